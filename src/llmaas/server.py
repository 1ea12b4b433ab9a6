"""`llmaas serve`: engines and gateway in one supervised process tree."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ipaddress
import logging
import multiprocessing
import os
import signal
import socket
import sys
import time
from collections.abc import Iterator
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import uvicorn
import uvloop
from fastapi import FastAPI
from rich.console import Console
from rich.live import Live
from rich.table import Table
from sqlalchemy import Engine

from llmaas.api.connections import BoundedHttpToolsProtocol, bounded_http
from llmaas.app import create_app
from llmaas.catalog import Catalog, Upstream
from llmaas.catalog.catalog import CatalogError
from llmaas.engines.launch import embedded_upstreams, engine_specs, prepare
from llmaas.engines.supervisor import Supervisor, forbid_core_dumps
from llmaas.errors import TLSConfigError
from llmaas.gateway.serving import ServedCatalog, load_served_catalog
from llmaas.observability.logs import configure_logging
from llmaas.observability.stalls import settle_heap
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
    upstreams = embedded_upstreams(specs)
    if settings.workers > 1:  # the engines in this process, the gateway in worker processes
        database.dispose()
        _write_pid_file(settings)
        uvloop.run(_serve_workers(_Workers(settings, upstreams), supervisor, console, settings))
        return
    server = _gateway(settings, catalog, database, upstreams, tls, listening)
    _write_pid_file(settings)
    uvloop.run(_serve(server, supervisor, server.served.router, catalog, console, settings))


def _write_pid_file(settings: Settings) -> None:
    settings.home.mkdir(parents=True, exist_ok=True)
    pid_file(settings).write_text(str(os.getpid()))  # `llmaas models reload` signals this process


def _gateway(
    settings: Settings, catalog: Catalog, database: Engine, upstreams: dict[str, list[Upstream]],
    tls: ServerTLS | None, listening: dict[str, Any],
) -> _Server:
    try:
        app = create_app(settings, catalog=catalog, database=database, upstreams=upstreams)
    except CatalogError:  # an upstream's CA or client certificate file
        database.dispose()
        raise
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
    return _Server(config, app, app.state.served_catalog, tls)


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


class SettledServer(uvicorn.Server):
    """uvicorn's server, with the start-up heap settled once the app has started (observability/
    stalls.py): without it, full garbage collections stop the event loop for ~70 ms under load."""

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        settle_heap()


class _Server(SettledServer):
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
        self.served = served  # SIGHUP reloads it
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
            await self.served.reload()
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


# -- `--workers N` --------------------------------------------------------------------------------

_PR_SET_PDEATHSIG = 1  # from <sys/prctl.h>
WORKER_START_UP_S = 30.0  # a worker that exits sooner is broken (its port, its settings): stop, don't loop


def _worker(settings: Settings, upstreams: dict[str, list[Upstream]], parent: int) -> None:
    """One gateway process of `--workers N`, in a fresh interpreter (spawned): the parent migrated
    the database and runs the engines. Its own socket on the shared port (SO_REUSEPORT), so that the
    kernel spreads new connections over the workers instead of waking them all for each."""
    forbid_core_dumps()  # the exec undid the parent's "not dumpable"; this memory holds prompts too
    if sys.platform == "linux":  # a parent killed outright sends its workers SIGTERM: they drain and exit
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # it died before that
        return
    # Out of the terminal's process group: Ctrl-C reaches the parent alone, which drains each worker
    # with one SIGTERM (a second signal, SIGINT, would make uvicorn cut the requests in flight).
    os.setpgrp()
    configure_logging(settings.log_level)
    tls, listening = listening_options(settings)
    database = create_database_engine(settings.resolved_database_url)
    try:
        server = _gateway(settings, load_served_catalog(settings, database), database, upstreams, tls,
                          listening)
        uvloop.run(server.serve(sockets=_shared_sockets(settings.host, settings.port)))
    finally:
        database.dispose()


def _shared_sockets(host: str, port: int) -> list[socket.socket]:
    """A socket on each address `host` names ("localhost": 127.0.0.1 and ::1; "": every interface,
    IPv4 and IPv6), as asyncio would bind them, but shared with the other workers (SO_REUSEPORT)."""
    sockets = []
    found = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    for family, kind, proto, _, address in dict.fromkeys(found):
        listener = socket.socket(family, kind, proto)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6:  # the IPv4 address has a socket of its own
            listener.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        listener.bind(address)
        sockets.append(listener)
    return sockets


class _Workers:
    """The worker processes: started, signalled, replaced when one dies, stopped."""

    def __init__(self, settings: Settings, upstreams: dict[str, list[Upstream]]) -> None:
        self._context = multiprocessing.get_context("spawn")  # no fork of a running event loop
        self._settings = settings
        self._upstreams = upstreams
        self._processes: dict[BaseProcess, float] = {}  # each with when it started

    def _spawn(self) -> None:
        process = self._context.Process(target=_worker, args=(self._settings, self._upstreams, os.getpid()),
                                        name="llmaas-gateway")
        process.start()
        self._processes[process] = time.monotonic()

    def start(self) -> None:
        for _ in range(self._settings.workers):
            self._spawn()

    @property
    def pids(self) -> list[int]:
        return [process.pid for process in self._processes if process.pid is not None]

    def signal(self, sig: int) -> None:
        for pid in self.pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)

    def replace_exited(self) -> None:
        """Start a new worker for each that exited; SystemExit(1) if one exited during its start-up."""
        for process, started in list(self._processes.items()):
            if process.exitcode is None:
                continue
            del self._processes[process]
            if time.monotonic() - started < WORKER_START_UP_S:
                log.error("gateway worker %s exited with code %s while starting: stopping", process.pid,
                          process.exitcode)
                raise SystemExit(1)
            log.error("gateway worker %s exited with code %s: starting another", process.pid,
                      process.exitcode)
            self._spawn()

    async def drain(self, grace_s: float) -> None:
        """SIGTERM to each (each drains its in-flight requests), then wait up to `grace_s`."""
        self.signal(signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while any(p.is_alive() for p in self._processes) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)

    def kill(self) -> None:
        for process in self._processes:
            if process.is_alive():
                process.kill()
            process.join(5)


async def _serve_workers(workers: _Workers, supervisor: Supervisor, console: Console,
                         settings: Settings) -> None:
    """The engines, then the workers; SIGTERM or SIGINT drains the workers before the engines stop,
    SIGHUP reaches every worker (catalog and certificate reload)."""
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    await supervisor.start()
    try:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stopping.set)
        loop.add_signal_handler(signal.SIGHUP, workers.signal, signal.SIGHUP)
        workers.start()
        scheme = "https" if settings.tls_cert_file else "http"
        console.print(f"[bold green]llmaas is starting {settings.workers} gateway workers on "
                      f"{scheme}://{settings.host}:{settings.port}[/bold green] (PIDs "
                      f"{', '.join(map(str, workers.pids))}); /ready answers once a worker is up")
        while not stopping.is_set():
            workers.replace_exited()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), 0.5)
        await workers.drain(settings.drain_grace_s + 10)  # a worker's own drain, then its lifespan's
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            loop.remove_signal_handler(sig)
        workers.kill()
        await supervisor.stop()
