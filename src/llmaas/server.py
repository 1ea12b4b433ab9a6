"""`llmaas serve`: engines and gateway in one supervised process tree."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import uvicorn
import uvloop
from fastapi import FastAPI
from rich.console import Console
from rich.live import Live
from rich.table import Table

from llmaas.api.connections import BoundedHttpToolsProtocol, bounded_http
from llmaas.app import create_app
from llmaas.catalog import Catalog
from llmaas.catalog.catalog import CatalogError
from llmaas.engines.launch import embedded_upstreams, engine_specs, prepare
from llmaas.engines.supervisor import Supervisor, forbid_core_dumps
from llmaas.errors import TLSConfigError
from llmaas.gateway.serving import ServedCatalog, load_served_catalog
from llmaas.routing import Router
from llmaas.settings import Settings
from llmaas.storage.database import create_database_engine, migrate
from llmaas.tls import ServerTLS

log = logging.getLogger(__name__)


def pid_file(settings: Settings) -> Path:
    return settings.home / "llmaas.pid"


def run(settings: Settings, console: Console) -> None:
    """Serve until stopped. An unusable catalog raises CatalogError, unusable TLS settings
    TLSConfigError, before anything is started."""
    forbid_core_dumps()  # before any engine starts: they inherit it
    tls, listening = listening_options(settings)
    database = create_database_engine(settings.resolved_database_url)
    migrate(database)
    try:
        catalog = load_served_catalog(settings, database)
    except CatalogError:
        database.dispose()
        raise
    specs = []
    if settings.embedded:
        prepare(settings, catalog, console)
        specs = engine_specs(settings, catalog)
    supervisor = Supervisor(specs)
    try:
        app = create_app(settings, catalog=catalog, database=database, upstreams=embedded_upstreams(specs))
    except CatalogError:  # an upstream's CA or client certificate file
        database.dispose()
        raise
    settings.home.mkdir(parents=True, exist_ok=True)
    pid_file(settings).write_text(str(os.getpid()))  # `llmaas models reload` signals this process
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        access_log=False,  # our own access log carries the request id and no query strings
        http=http_protocol(settings),
        ws="none",  # no WebSocket endpoint: an upgrade request is an ordinary request
        timeout_graceful_shutdown=int(settings.drain_grace_s),
        log_level="warning",
        log_config=None,  # uvicorn's loggers use ours: its tracebacks too are content-free
        **listening,
    )
    served: ServedCatalog = app.state.served_catalog
    server = _Server(config, app, served, tls)
    uvloop.run(_serve(server, supervisor, served.router, catalog, console, settings))


def listening_options(settings: Settings) -> tuple[ServerTLS | None, dict[str, Any]]:
    """The gateway's TLS, if any, and uvicorn's options to match. TLSConfigError for an unusable
    certificate or key, or for plain HTTP on an address beyond loopback, which would carry API keys in
    clear, unless the operator says a TLS-terminating proxy is in front (`behind_tls_proxy`)."""
    cert, key = settings.tls_cert_file, settings.tls_key_file
    if (cert is None) != (key is None):
        raise TLSConfigError("give both --tls-cert and --tls-key (LLMAAS_TLS_CERT_FILE and "
                             "LLMAAS_TLS_KEY_FILE), or neither")
    tls = ServerTLS(cert, key) if cert is not None and key is not None else None
    if tls is None and not settings.behind_tls_proxy and not is_loopback(settings.host):
        raise TLSConfigError(
            f"{settings.host} is not a loopback address and TLS is off: give --tls-cert and --tls-key "
            "(`llmaas tls self-signed` makes a development pair), or --behind-tls-proxy when a proxy in "
            "front terminates TLS")
    # Forwarding headers are believed only from the proxy the operator declared: anyone else could
    # claim any client address (the audit log records it) or scheme.
    options: dict[str, Any] = {"proxy_headers": settings.behind_tls_proxy}
    if settings.behind_tls_proxy:
        options["forwarded_allow_ips"] = settings.trusted_proxies
        log.warning("behind a TLS-terminating proxy: plain HTTP on %s:%d; forwarding headers trusted "
                    "from %s", settings.host, settings.port, ", ".join(settings.trusted_proxies))
    if tls is not None:
        context = tls.context
        options["ssl_context_factory"] = lambda config, default: context
        log.info("TLS 1.3 with %s", tls.description)
    return tls, options


def http_protocol(settings: Settings) -> type[BoundedHttpToolsProtocol]:
    """uvicorn's httptools protocol with the request heads and bodies bounded as the settings say
    (slowloris, oversized headers, slow bodies: api/connections.py)."""
    return bounded_http(max_head_bytes=settings.max_request_head_bytes,
                        head_timeout_s=settings.request_head_timeout_s,
                        body_timeout_s=settings.request_body_timeout_s)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a name (which may resolve anywhere) or "" (every interface)
        return False


class _Server(uvicorn.Server):
    """Graceful drain: on SIGTERM or SIGINT the replica reports not-ready, stops accepting, lets
    in-flight requests finish (up to the grace period), and only then are the engines stopped.

    uvicorn itself re-raises the signal once drained, which would kill us before the engines are
    stopped; here the signal only starts the drain, and `_serve` stops the engines after it.
    """

    def __init__(
        self, config: uvicorn.Config, app: FastAPI, served: ServedCatalog, tls: ServerTLS | None
    ) -> None:
        super().__init__(config)
        self._app = app
        self._served = served  # SIGHUP reloads it
        self._tls = tls  # and its certificate: rotation without a restart
        self._reloading: asyncio.Task[None] | None = None

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._drain, sig)
        loop.add_signal_handler(signal.SIGHUP, self._reload)
        try:
            yield
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                loop.remove_signal_handler(sig)

    def _reload(self) -> None:
        if self._tls is not None:
            # On the event loop's thread: the context must not change under a handshake starting.
            try:
                log.info("TLS certificate reloaded: %s", self._tls.reload())
            except TLSConfigError as error:
                log.error("TLS certificate not reloaded, the running one stays: %s", error)
        self._reloading = asyncio.create_task(self._reload_catalog())  # held: a task must be referenced

    async def _reload_catalog(self) -> None:
        try:
            await self._served.reload()
        except CatalogError as error:
            log.error("catalog not reloaded: %s", error)

    def _drain(self, sig: int) -> None:
        self._app.state.draining = True  # /ready answers 503 from now on
        self.handle_exit(sig, None)


async def _serve(
    server: uvicorn.Server,
    supervisor: Supervisor,
    router: Router,
    catalog: Catalog,
    console: Console,
    settings: Settings,
) -> None:
    await supervisor.start()
    serving = asyncio.create_task(server.serve())
    try:
        await _show_progress(router, catalog, console, serving)
        if not serving.done():
            scheme = "https" if settings.tls_cert_file else "http"
            url = f"{scheme}://{settings.host}:{settings.port}"
            console.print(
                f"[bold green]llmaas is serving on {url}[/bold green]  (API reference: {url}/docs)\n"
                "Get an API key with: [bold]llmaas keys create --name my-app[/bold]\n"
                f"Then: OPENAI_BASE_URL={url}/v1 OPENAI_API_KEY=<key> your-openai-client"
            )
        await serving  # returns after SIGINT/SIGTERM, once in-flight requests have finished
    finally:
        await supervisor.stop()


async def _show_progress(
    router: Router, catalog: Catalog, console: Console, serving: asyncio.Task[None]
) -> None:
    """A live table of models until all are ready (or the server stops first)."""

    def table() -> Table:
        grid = Table("model", "engine", title="Starting engines")
        for entry in catalog:
            ready = router.pools[entry.id].ready
            grid.add_row(entry.id, "[green]ready[/green]" if ready else "[yellow]loading…[/yellow]")
        return grid

    with Live(table(), console=console, refresh_per_second=4, transient=False) as live:
        while not serving.done() and not all(router.readiness().values()):
            await asyncio.sleep(0.5)
            live.update(table())
