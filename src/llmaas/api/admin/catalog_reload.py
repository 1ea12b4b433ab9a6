"""Swapping a new catalog into a running replica: file reloads, override writes, and the poll that
brings every replica the overrides another one (or the CLI) wrote."""

from __future__ import annotations

import asyncio
import logging

from fastapi import FastAPI
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from llmaas.catalog import Catalog, load_catalog
from llmaas.catalog.catalog import CatalogError
from llmaas.catalog.overrides import OverridesUnavailable
from llmaas.catalog.store import OverrideStore
from llmaas.routing import Router
from llmaas.settings import Settings

log = logging.getLogger(__name__)


def install_catalog(app: FastAPI, catalog: Catalog) -> None:
    """Swap `catalog` in; requests in flight finish on the one they started with. Pools are rebuilt
    only when upstreams changed, and an upstream that stays keeps its health and breaker state."""
    current: Catalog = app.state.gateway.catalog
    if _upstreams(catalog) != _upstreams(current):
        fresh = Router.configured(catalog, app.state.embedded_upstreams, app.state.settings)
        app.state.router.replace(fresh.pools)
    app.state.gateway.catalog = catalog


def _upstreams(catalog: Catalog) -> dict[str, object]:
    return {entry.id: entry.upstreams for entry in catalog}


def served_catalog(settings: Settings, database: Engine) -> Catalog:
    """The catalog file, then the operator's overrides from the database on top (CatalogError when
    the result, or the file itself, cannot be used). Blocking: file and database I/O."""
    file_catalog = load_catalog(settings.catalog_file, notice_months=settings.deprecation_notice_months)
    return OverrideStore(database).apply(file_catalog)


async def reload_catalog(app: FastAPI) -> Catalog:
    """Read the catalog file again and apply the database's overrides, off the event loop (a slow
    database must not stall requests), then swap the result in on it, without a restart (also on
    SIGHUP). An invalid result raises CatalogError and changes nothing. Embedded engines need a
    restart to change."""
    catalog = await run_in_threadpool(served_catalog, app.state.settings, app.state.database)
    install_catalog(app, catalog)
    log.info("catalog reloaded: %d models, overrides revision %s", len(catalog), catalog.revision)
    return catalog


async def watch_overrides(app: FastAPI, *, interval_s: float) -> None:
    """Keep this replica on the newest overrides: poll their revision (one cheap query) and apply them
    again when it moved. A failed poll or an invalid result is logged; the running catalog stays."""
    store = OverrideStore(app.state.database)
    refused: int | None = None  # a revision that makes an invalid catalog: logged once, not every poll
    while True:
        try:
            revision = await run_in_threadpool(store.revision)
            current: Catalog = app.state.gateway.catalog
            if revision not in (current.revision, refused):
                fresh = await run_in_threadpool(store.apply, current)
                if app.state.gateway.catalog is current:  # else a reload won the race; poll again
                    install_catalog(app, fresh)
                    log.info("catalog overrides applied: revision %d", revision)
        except OverridesUnavailable as error:
            log.warning("%s; the running catalog stays", error)
        except CatalogError as error:  # only `store.apply` raises it, once `revision` is known
            refused = revision
            log.error("catalog overrides not applied, the running catalog stays: %s", error)
        except Exception:  # the watcher must outlive any one failure, or replicas drift apart silently
            log.exception("catalog overrides poll failed")
        await asyncio.sleep(interval_s)
