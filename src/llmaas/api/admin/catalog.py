"""POST /admin/api/catalog/reload: read the catalog file again, without a restart."""

from __future__ import annotations

import logging

from fastapi import APIRouter, FastAPI, Request
from starlette.concurrency import run_in_threadpool

from llmaas.api.admin.deps import AdminDep
from llmaas.catalog import Catalog, load_catalog
from llmaas.catalog.catalog import CatalogError
from llmaas.errors import InvalidRequest
from llmaas.routing import Router
from llmaas.settings import Settings

log = logging.getLogger(__name__)
router = APIRouter(prefix="/admin/api", tags=["admin"])


def reload_catalog(app: FastAPI) -> Catalog:
    """Read the catalog file again and swap it in without a restart (also on SIGHUP). An invalid
    file raises CatalogError and changes nothing. Embedded engines need a restart to change."""
    settings: Settings = app.state.settings
    catalog = load_catalog(settings.catalog_file, notice_months=settings.deprecation_notice_months)
    fresh = Router.from_catalog(catalog, app.state.embedded_upstreams,
                                max_in_flight=settings.max_in_flight_per_model)
    app.state.router.replace(fresh.pools)
    app.state.gateway.catalog = catalog
    log.info("catalog reloaded: %d models", len(catalog))
    return catalog


@router.post("/catalog/reload")
async def reload(_: AdminDep, request: Request) -> dict[str, object]:
    try:
        catalog = await run_in_threadpool(reload_catalog, request.app)
    except CatalogError as error:
        raise InvalidRequest(f"The catalog was not reloaded: {error}") from None
    return {"models": [entry.id for entry in catalog], "aliases": catalog.aliases}
