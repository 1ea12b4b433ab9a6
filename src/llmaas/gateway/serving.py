"""The catalog a replica serves and the router to its upstreams, swapped together: on a file reload
(the admin API, SIGHUP), on an override write, and by the poll that brings every replica the
overrides another one (or the CLI) wrote.

Requests read `catalog` once and finish on the one they started with; a swap never blocks them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from llmaas.catalog import Catalog, Upstream, load_catalog
from llmaas.catalog.catalog import CatalogError
from llmaas.catalog.overrides import Overrides, OverridesUnavailable
from llmaas.catalog.store import OverrideStore
from llmaas.routing import Router
from llmaas.settings import Settings

log = logging.getLogger(__name__)


def load_served_catalog(settings: Settings, database: Engine) -> Catalog:
    """The catalog file, then the operator's overrides from the database on top (CatalogError when
    the result, or the file itself, cannot be used). Blocking: file and database I/O."""
    file_catalog = load_catalog(settings.catalog_file, notice_months=settings.deprecation_notice_months)
    return OverrideStore(database).apply(file_catalog)


class ServedCatalog:
    """Owns the served catalog and its router; the one place either is swapped.

        served = ServedCatalog(catalog, settings=settings, database=database, embedded=upstreams)
        served.router.pool("chat")       # the pools of the catalog now served
        await served.reload()            # the file again, with the database's overrides
    """

    def __init__(
        self, catalog: Catalog, *, settings: Settings, database: Engine,
        embedded: dict[str, list[Upstream]] | None = None,
    ) -> None:
        self._catalog = catalog
        self._settings = settings
        self._database = database
        self._embedded = embedded or {}
        self._store = OverrideStore(database)
        self.router = Router.configured(catalog, self._embedded, settings)

    @property
    def catalog(self) -> Catalog:
        return self._catalog

    def install(self, catalog: Catalog, *, reread_tls: bool = False) -> None:
        """Swap `catalog` in; requests in flight finish on the one they started with. Pools are rebuilt
        only when upstreams changed (or `reread_tls` asks to read their TLS files again), and an upstream
        that stays keeps its health and breaker state."""
        if reread_tls or _upstreams(catalog) != _upstreams(self._catalog):
            fresh = Router.configured(catalog, self._embedded, self._settings)
            self.router.replace(fresh.pools)
        self._catalog = catalog

    async def reload(self) -> Catalog:
        """Read the catalog file again and apply the database's overrides, off the event loop (a slow
        database must not stall requests), then swap the result in on it, without a restart (also on
        SIGHUP). Upstream CA and client certificate files are read again too. An invalid result raises
        CatalogError and changes nothing. Embedded engines need a restart to change."""
        catalog = await run_in_threadpool(load_served_catalog, self._settings, self._database)
        self.install(catalog, reread_tls=True)
        log.info("catalog reloaded: %d models, overrides revision %s", len(catalog), catalog.revision)
        return catalog

    async def change(self, write: Callable[[OverrideStore, Catalog], Catalog]) -> Overrides:
        """Run an override write on the database (off the event loop) against the catalog served now,
        swap the catalog it made in, and return the overrides now stored. The write's OverrideError or
        CatalogError propagates and changes nothing."""
        catalog = await run_in_threadpool(write, self._store, self._catalog)
        self.install(catalog)
        return await run_in_threadpool(self._store.load)

    async def overrides(self) -> Overrides:
        """The overrides stored in the database, read off the event loop."""
        return await run_in_threadpool(self._store.load)

    async def watch_overrides(self, *, interval_s: float) -> None:
        """Keep this replica on the newest overrides: poll their revision (one cheap query) and apply
        them again when it moved. A failed poll or an invalid result is logged; the running catalog
        stays."""
        refused: int | None = None  # a revision that makes an invalid catalog: logged once, not every poll
        while True:
            try:
                revision = await run_in_threadpool(self._store.revision)
                current = self._catalog
                if revision not in (current.revision, refused):
                    fresh = await run_in_threadpool(self._store.apply, current)
                    if self._catalog is current:  # else a reload won the race; poll again
                        self.install(fresh)
                        log.info("catalog overrides applied: revision %d", revision)
            except OverridesUnavailable as error:
                log.warning("%s; the running catalog stays", error)
            except CatalogError as error:  # only `apply` raises it, once `revision` is known
                refused = revision
                log.error("catalog overrides not applied, the running catalog stays: %s", error)
            except Exception:  # the watcher must outlive any one failure, or replicas drift apart silently
                log.exception("catalog overrides poll failed")
            await asyncio.sleep(interval_s)


def _upstreams(catalog: Catalog) -> dict[str, object]:
    return {entry.id: entry.upstreams for entry in catalog}
