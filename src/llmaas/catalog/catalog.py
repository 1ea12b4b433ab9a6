"""Loading the catalog file and answering "which model is this?"."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from llmaas.catalog.models import ModelEntry
from llmaas.errors import ModelNotFound


class CatalogFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    models: list[ModelEntry]


class CatalogError(ValueError):
    """The catalog file cannot be used; the message says where and why."""


class Catalog:
    def __init__(self, models: list[ModelEntry]) -> None:
        self._models = {model.id: model for model in models}
        if len(self._models) != len(models):
            raise CatalogError("the catalog lists a model id twice")

    def __iter__(self) -> Iterator[ModelEntry]:
        return iter(self._models.values())

    def __len__(self) -> int:
        return len(self._models)

    def get(self, model_id: str) -> ModelEntry:
        try:
            return self._models[model_id]
        except KeyError:
            raise ModelNotFound(
                f"The model `{model_id}` does not exist or you do not have access to it.",
                param="model",
            ) from None


def load_catalog(path: Path | None = None) -> Catalog:
    """Read and validate a catalog file; without a path, the bundled embedded catalog."""
    if path is None:
        text = resources.files("llmaas.catalog").joinpath("default.toml").read_text("utf-8")
        source = "the bundled catalog"
    else:
        text = path.read_text("utf-8")
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
    return Catalog(parsed.models)
