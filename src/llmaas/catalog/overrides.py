"""The operator's overrides on top of the catalog file, and how they merge.

An override replaces fields of one model the file lists (any field but `id` and `engine`: the file
says what exists and what runs where). An object-valued field merges one level deep, so overriding one
price keeps the others; lists and other values replace the file's. `null` sets a field to null. Alias
overrides add or repoint an alias, or remove one of the file's. The merged catalog is validated like the
file: each merged entry by ModelEntry, the whole by Catalog (successors, notice period, alias targets).

    catalog = apply_overrides(load_catalog(path), store.load())
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any

from pydantic import TypeAdapter, ValidationError

from llmaas.catalog.catalog import Catalog, CatalogError
from llmaas.catalog.models import ModelEntry

log = logging.getLogger(__name__)

# Shown in place of an upstream's api_key wherever an override is shown back; never stored as a key.
MASKED_SECRET = "********"

# What a model is and where it runs stay in the file: an engine change needs a restart anyway.
FIXED_FIELDS = frozenset({"id", "engine"})
OVERRIDABLE_FIELDS = frozenset(ModelEntry.model_fields) - FIXED_FIELDS


class OverrideError(CatalogError):
    """An override that cannot apply; `field` names the offending field where there is one."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class OverridesUnavailable(CatalogError):
    """The overrides could not be read from the database (a transient failure: retry)."""


@dataclass(frozen=True)
class ModelOverride:
    model_id: str
    fields: dict[str, Any]  # JSON values, as the operator wrote them
    updated_at: datetime
    updated_by: str


@dataclass(frozen=True)
class AliasOverride:
    alias: str
    model_id: str | None  # None removes the file's alias
    updated_at: datetime
    updated_by: str


@dataclass(frozen=True)
class Overrides:
    revision: int = 0
    models: dict[str, ModelOverride] = field(default_factory=dict)
    aliases: dict[str, AliasOverride] = field(default_factory=dict)


def check_field_names(names: Iterable[str]) -> None:
    for name in names:
        if name in FIXED_FIELDS:
            raise OverrideError(f"`{name}` cannot be overridden: change it in the catalog file.", field=name)
        if name not in OVERRIDABLE_FIELDS:
            raise OverrideError(f"models have no field `{name}`.", field=name)


def check_field_values(model_id: str, fields: Mapping[str, Any]) -> None:
    """Refuse, before anything is written, a value that is wrong whatever it is merged with: a write
    refused inside its transaction is rolled back, but PostgreSQL's WAL (and its archives and
    standbys) keep what it wrote, a mistyped secret included. Tables (a partial one merges into the
    current value) and checks across fields are left to the transaction."""
    for name, value in fields.items():
        field = ModelEntry.model_fields.get(name)
        if field is None or isinstance(value, dict):
            continue
        try:
            typed: Any = Annotated[field.annotation, field]  # the field's type and its constraints
            TypeAdapter(typed).validate_python(value)
        except ValidationError as exc:  # its message only: the value may be a secret
            message = exc.errors(include_input=False)[0]["msg"]
            raise OverrideError(f"model {model_id!r}: {name}: {message}", field=name) from None


def check_no_masked_secret(fields: Mapping[str, Any]) -> None:
    """An override read back from the admin API shows keys masked: writing it back as it is must not
    replace the real keys with the mask."""
    upstreams = fields.get("upstreams")
    if isinstance(upstreams, list) and any(
        isinstance(upstream, dict) and upstream.get("api_key") == MASKED_SECRET for upstream in upstreams
    ):
        raise OverrideError(
            f"an upstream's api_key is the mask {MASKED_SECRET!r} shown back, not a key: send the key "
            "itself, or leave `upstreams` out of the override.", field="upstreams")


def merge_entry(entry: ModelEntry, fields: Mapping[str, Any]) -> ModelEntry:
    """The entry with `fields` on top, validated again: a bad override is an OverrideError."""
    check_field_names(fields)
    data = entry.model_dump()
    for name, value in fields.items():
        current = data.get(name)
        data[name] = {**current, **value} if isinstance(value, dict) and isinstance(current, dict) else value
    try:
        return ModelEntry.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        # Only locations and messages: an input value may be a secret (an upstream's api_key).
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}" if error["loc"]
            else error["msg"].removeprefix("Value error, ")
            for error in errors
        )
        first = errors[0]["loc"]
        raise OverrideError(f"model {entry.id!r}: {problems}",
                            field=str(first[0]) if first else None) from None


def apply_overrides(base: Catalog, overrides: Overrides) -> Catalog:
    """The file's catalog with the overrides on top, validated as a whole (CatalogError otherwise).

    `base` may itself carry overrides: they are dropped, and these apply to the file's catalog under it.
    An override of a model the file no longer lists, or an alias to one, is ignored (and logged).
    """
    base = base.base
    known = {entry.id for entry in base}
    if orphans := sorted(set(overrides.models) - known):
        log.warning("catalog overrides ignored for models not in the catalog file: %s", ", ".join(orphans))
    models = [
        merge_entry(entry, overrides.models[entry.id].fields) if entry.id in overrides.models else entry
        for entry in base
    ]
    aliases = dict(base.aliases)
    for alias, override in overrides.aliases.items():
        if override.model_id is None:
            aliases.pop(alias, None)
        elif override.model_id not in known or alias in known:
            # The file changed under it: keep serving rather than refuse to start over a stale alias.
            log.warning("catalog alias override %r ignored: %s", alias,
                        f"{alias!r} is now a model id" if alias in known
                        else f"model {override.model_id!r} is not in the catalog file")
        else:
            aliases[alias] = override.model_id
    catalog = Catalog(models, aliases=aliases, notice_months=base.notice_months)
    catalog.base, catalog.revision = base, overrides.revision
    return catalog
