"""/admin/api/catalog: the catalog as served, the operator's overrides on it, and reloads.

A write validates the catalog it would make and refuses an invalid one (400, nothing written); it is
applied to this replica at once and reaches the others by their poll (`catalog_poll_interval_s`).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request

from llmaas.api.admin.deps import AdminAudit, AdminDep, AuditDep, ServedCatalogDep
from llmaas.api.admin.schemas import (
    AliasUpdate,
    CatalogAliasPublic,
    CatalogModelPublic,
    CatalogOverridePublic,
    CatalogPublic,
)
from llmaas.api.deps import client_address
from llmaas.audit import Draft
from llmaas.catalog import Catalog, lifecycle
from llmaas.catalog.catalog import CatalogError
from llmaas.catalog.overrides import FIXED_FIELDS, MASKED_SECRET, OVERRIDABLE_FIELDS, OverrideError, Overrides
from llmaas.catalog.store import OverrideStore
from llmaas.errors import InvalidRequest
from llmaas.gateway import ServedCatalog

router = APIRouter(prefix="/admin/api", tags=["admin"])

def masked(fields: dict[str, Any]) -> dict[str, Any]:
    """Fields with every upstream's api_key hidden: secrets are never shown back."""
    upstreams = fields.get("upstreams")
    if not isinstance(upstreams, list):
        return fields
    return {**fields, "upstreams": [
        {**upstream, "api_key": MASKED_SECRET}
        if isinstance(upstream, dict) and upstream.get("api_key") else upstream
        for upstream in upstreams
    ]}


def model_public(catalog: Catalog, overrides: Overrides, model_id: str) -> CatalogModelPublic:
    entry = catalog.get(model_id)
    override = overrides.models.get(model_id)
    return CatalogModelPublic(
        id=entry.id, lifecycle_status=lifecycle.status(entry, datetime.now(UTC).date()),
        overridden=sorted(override.fields) if override else [],
        override=CatalogOverridePublic(fields=masked(override.fields), updated_at=override.updated_at,
                                       updated_by=override.updated_by) if override else None,
        entry=masked(entry.model_dump(mode="json")),
    )


def aliases_public(catalog: Catalog, overrides: Overrides) -> list[CatalogAliasPublic]:
    listed = [CatalogAliasPublic(alias=alias, model=target, source="file")
              for alias, target in catalog.aliases.items() if alias not in overrides.aliases]
    listed += [CatalogAliasPublic(alias=o.alias, model=o.model_id, source="override",
                                  updated_at=o.updated_at, updated_by=o.updated_by)
               for o in overrides.aliases.values()]
    return sorted(listed, key=lambda alias: alias.alias)


def _actor(request: Request) -> str:
    # The admin token names no person; the client's address is what the audit log can say.
    return f"admin-api@{client_address(request.scope) or 'unknown'}"


async def _write(
    served: ServedCatalog, what: str, write: Callable[[OverrideStore, Catalog], Catalog]
) -> Overrides:
    """Run a write on the database, swap the catalog it made in here, and return the overrides now stored."""
    try:
        return await served.change(write)
    except OverrideError as error:
        raise InvalidRequest(f"The {what} was not saved: {error}", param=error.field) from None
    except CatalogError as error:
        raise InvalidRequest(f"The {what} was not saved: {error}") from None


def _override_write(
    audit: AdminAudit, action: str, model_id: str, body: dict[str, Any]
) -> AbstractAsyncContextManager[Draft]:
    # Field names only: a value may be an upstream's api_key. Names a model does not have are only
    # counted: the write is refused for them, and they are whatever the client chose to send.
    known = sorted(name for name in body if name in OVERRIDABLE_FIELDS | FIXED_FIELDS)
    details: dict[str, Any] = {"fields": known}
    if unknown := len(body) - len(known):
        details["unknown_fields"] = unknown
    return audit.writing(action, "model", model_id, **details)


@router.post("/catalog/reload")
async def reload(_: AdminDep, audit: AuditDep, served: ServedCatalogDep) -> dict[str, object]:
    async with audit.writing("catalog.reload", "catalog", "catalog") as row:
        try:
            catalog = await served.reload()
        except CatalogError as error:
            raise InvalidRequest(f"The catalog was not reloaded: {error}") from None
        row.details["revision"] = catalog.revision
    return {"models": [entry.id for entry in catalog], "aliases": catalog.aliases,
            "revision": catalog.revision}


@router.get("/catalog")
async def get_catalog(_: AdminDep, served: ServedCatalogDep) -> CatalogPublic:
    """The catalog this replica serves, each model's lifecycle status today and what overrides set."""
    catalog = served.catalog
    overrides = await served.overrides()
    return CatalogPublic(revision=catalog.revision,
                         models=[model_public(catalog, overrides, entry.id) for entry in catalog],
                         aliases=aliases_public(catalog, overrides))


@router.put("/catalog/models/{model_id:path}/override")
async def put_override(
    model_id: str, body: dict[str, Any], _: AdminDep, audit: AuditDep, request: Request,
    served: ServedCatalogDep,
) -> CatalogModelPublic:
    """Replace the model's override with the fields sent (any field but `id` and `engine`)."""
    async with _override_write(audit, "catalog.override.set", model_id, body):
        overrides = await _write(served, "override", lambda store, base: store.set_model(
            model_id, body, base=base, actor=_actor(request)))
    return model_public(served.catalog, overrides, model_id)


@router.patch("/catalog/models/{model_id:path}/override")
async def patch_override(
    model_id: str, body: dict[str, Any], _: AdminDep, audit: AuditDep, request: Request,
    served: ServedCatalogDep,
) -> CatalogModelPublic:
    """Add the fields sent to the model's override; fields not sent keep their overridden value."""
    async with _override_write(audit, "catalog.override.update", model_id, body):
        overrides = await _write(served, "override", lambda store, base: store.set_model(
            model_id, body, base=base, actor=_actor(request), merge=True))
    return model_public(served.catalog, overrides, model_id)


@router.delete("/catalog/models/{model_id:path}/override")
async def delete_override(
    model_id: str, _: AdminDep, audit: AuditDep, request: Request, served: ServedCatalogDep
) -> CatalogModelPublic:
    """Drop the model's override: the catalog file's entry applies again."""
    async with audit.writing("catalog.override.clear", "model", model_id):
        overrides = await _write(served, "override", lambda store, base: store.clear_model(
            model_id, base=base, actor=_actor(request)))
    return model_public(served.catalog, overrides, model_id)


@router.put("/catalog/aliases/{alias:path}")
async def put_alias(
    alias: str, body: AliasUpdate, _: AdminDep, audit: AuditDep, request: Request, served: ServedCatalogDep
) -> CatalogAliasPublic:
    """Point an alias at a model, adding it or overriding the file's."""
    async with audit.writing("catalog.alias.set", "alias", alias, model=body.model):
        overrides = await _write(served, "alias", lambda store, base: store.set_alias(
            alias, body.model, base=base, actor=_actor(request)))
    return next(a for a in aliases_public(served.catalog, overrides) if a.alias == alias)


@router.delete("/catalog/aliases/{alias:path}", status_code=204)
async def delete_alias(
    alias: str, _: AdminDep, audit: AuditDep, request: Request, served: ServedCatalogDep
) -> None:
    """Remove an alias: one set by an override is dropped, one from the file is masked."""
    async with audit.writing("catalog.alias.remove", "alias", alias):
        await _write(served, "alias", lambda store, base: store.remove_alias(
            alias, base=base, actor=_actor(request)))
