"""Loading the catalog file and answering "which model is this?"."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from datetime import UTC, date, datetime
from importlib import resources
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from llmaas.catalog.lifecycle import Resolution, notice_headers, notice_problem, status
from llmaas.catalog.models import ModelEntry
from llmaas.errors import InternalError, ModelNotFound, ModelRetired


class CatalogFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    aliases: dict[str, str] = {}
    models: list[ModelEntry]


class CatalogError(InternalError, ValueError):
    """The catalog (its file, or the overrides on it) cannot be used; the message says where and why.
    The operator's error, never a client's; still a ValueError, as it was before it joined the tree."""


class Catalog:
    def __init__(
        self, models: list[ModelEntry], *, aliases: dict[str, str] | None = None, notice_months: int = 3
    ) -> None:
        self._models = {model.id: model for model in models}
        self.aliases = dict(aliases or {})
        self.notice_months = notice_months
        # A catalog with the database's overrides applied remembers the file's catalog it was built on
        # and the overrides' revision, so a replica can re-apply newer overrides (catalog/overrides.py).
        self.base: Catalog = self
        self.revision: int | None = None
        if len(self._models) != len(models):
            raise CatalogError("the catalog lists a model id twice")
        for alias, target in self.aliases.items():
            if alias in self._models:
                raise CatalogError(f"alias {alias!r} is also a model id")
            if target not in self._models:
                raise CatalogError(f"alias {alias!r} points to unknown model {target!r}")
        for model in models:
            if model.successor is not None and model.successor not in self._models:
                raise CatalogError(f"model {model.id!r} names unknown successor {model.successor!r}")
            if problem := notice_problem(model, notice_months):
                raise CatalogError(problem)

    def __iter__(self) -> Iterator[ModelEntry]:
        return iter(self._models.values())

    def __len__(self) -> int:
        return len(self._models)

    def __contains__(self, name: object) -> bool:
        """Whether `name` is a model id or an alias of this catalog."""
        return name in self._models or name in self.aliases

    def resolve(self, name: str, *, today: date | None = None) -> Resolution:
        """The model that answers a request for `name` (an id or an alias), and the notice headers."""
        entry = self.get(self.aliases.get(name, name))
        day = today or datetime.now(UTC).date()
        state = status(entry, day)
        if state == "retired":
            if entry.on_retired == "redirect" and entry.successor is not None:
                return Resolution(name, self.get(entry.successor), notice_headers(entry))
            advice = f" Use `{entry.successor}` instead." if entry.successor else ""
            raise ModelRetired(f"The model `{entry.id}` was retired on {entry.retires_at}.{advice}",
                               param="model")
        if state == "deprecated":
            return Resolution(name, entry, notice_headers(entry))
        return Resolution(name, entry)

    def get(self, model_id: str) -> ModelEntry:
        try:
            return self._models[model_id]
        except KeyError:
            raise ModelNotFound(
                f"The model `{model_id}` does not exist or you do not have access to it.",
                param="model",
            ) from None


def load_catalog(path: Path | None = None, *, notice_months: int = 3) -> Catalog:
    """Read and validate a catalog file; without a path, the bundled embedded catalog. A file that
    cannot be read is as unusable as an invalid one: both are a CatalogError."""
    if path is None:
        text = resources.files("llmaas.catalog").joinpath("default.toml").read_text("utf-8")
        source = "the bundled catalog"
    else:
        try:
            text = path.read_text("utf-8")
        except OSError as error:
            raise CatalogError(f"{path}: {error.strerror or error}") from None
        source = str(path)
    try:
        parsed = CatalogFile.model_validate(tomllib.loads(text))
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"{source}: not valid TOML: {exc}") from None
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}" for error in exc.errors()
        )
        raise CatalogError(f"{source}: {problems}") from None
    return Catalog(parsed.models, aliases=parsed.aliases, notice_months=notice_months)
