"""The gateway as production builds it, in its own process, in front of one upstream.

`create_app` with a SQLite database in a temporary home, a real API key issued by `KeyService`, a
one-model catalog, served by uvicorn with uvloop and httptools, its request heads bounded as `llmaas
serve` bounds them. `Metering` chooses what admission does (bench/metering_cost.py compares them); the
default is what `llmaas serve` does with a fresh home: the in-process meter, a key on the default
tenant's unlimited tier, the ledger on.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import signal
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from multiprocessing.connection import Connection
from multiprocessing.context import SpawnContext
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import uvicorn
from sqlalchemy import func, select
from sqlalchemy.orm import Session

import llmaas.app
from bench.common import free_port, pin, wait_http
from llmaas.app import create_app
from llmaas.auth import KeyLimits, KeyService
from llmaas.catalog import Catalog, ModelEntry, Upstream
from llmaas.catalog.models import Pricing
from llmaas.gateway.pipeline import Gateway, Reply
from llmaas.metering import Admission, Budget, BudgetUsage, LimitState, Meter, Reservation
from llmaas.server import SettledServer, http_protocol
from llmaas.settings import Settings
from llmaas.storage.database import create_database_engine, migrate
from llmaas.storage.tables import UsageEventRow
from llmaas.tenancy import TenantService, TierService

# Limits far above anything a benchmark can reach (the c=64 phases send ~2,000 requests/s at most,
# ~100 tokens each), so every request passes every check and nothing is ever refused.
NEVER_RPM = 10_000_000
NEVER_TPM = 1_000_000_000
NEVER_NANO = 10**15  # 1 million euros a month; a bench request costs ~10,000 nano-euros
NEVER_OUTPUT_TOKENS = 2**31 - 1  # per hour and per day: PostgreSQL's INTEGER columns hold no more


def bench_catalog(model_id: str, upstream_url: str | Sequence[str]) -> Catalog:
    """A one-model catalog; a sequence of URLs gives the model a pool of that many upstreams."""
    urls = [upstream_url] if isinstance(upstream_url, str) else list(upstream_url)
    return Catalog([ModelEntry(
        id=model_id, family="bench", owned_by="bench", capabilities=["chat", "completions"],
        context_length=8192, max_output_tokens=4096, license="MIT",
        # Priced, so that budget reservations hold real amounts (a free model reserves nothing).
        pricing=Pricing(input_per_million_tokens=Decimal("0.10"), output_per_million_tokens=Decimal("0.40")),
        upstreams=[Upstream(url=url) for url in urls],
    )])


class NoopMeter:
    """A `Meter` that admits everything and records nothing: metering off."""

    async def admit(self, admission: Admission) -> tuple[Reservation, LimitState]:
        reservation = Reservation(id=uuid.uuid4().hex, request_id=admission.request_id, charges=(),
                                  budgets=(), reserved_nano=0)
        return reservation, LimitState(None, None, None, None, None, None)

    async def settle(self, reservation: Reservation, *, cost_nano: int, tokens: int,
                     output_tokens: int) -> None:
        return None

    async def release(self, reservation: Reservation) -> None:
        return None

    async def seed_spent(self, budget: Budget, spent_nano: int) -> None:
        return None

    async def usage(self, budget: Budget) -> BudgetUsage:
        return BudgetUsage(0, 0)

    async def close(self) -> None:
        return None


def _check(meter: NoopMeter) -> Meter:
    return meter  # mypy: NoopMeter satisfies the protocol


@dataclass(frozen=True)
class Metering:
    """What admission and settlement do in the benchmarked gateway.

    meter: "settings" (what `llmaas serve` picks: Redis when `redis_url`, else in-process) or "noop".
    limits: the key gets RPM, TPM and a monthly budget, on a tenant whose tier has RPM, TPM, output
        tokens per hour and per day and a monthly cap, all too high to trip; without, the key is on
        the default tenant's unlimited tier with no limits of its own (nothing to check).
    ledger: False drops every usage record instead of writing it (the pipeline still builds it).
    """

    meter: str = "settings"
    limits: bool = False
    ledger: bool = True
    redis_url: str | None = None


def _issue_key(database: Any, limits: bool) -> str:
    keys = KeyService(database)
    if not limits:
        return keys.create(name="bench").secret
    TierService(database).create(
        name="bench", description="benchmark: limits that never trip", monthly_cap_nano=NEVER_NANO,
        requests_per_minute=NEVER_RPM, tokens_per_minute=NEVER_TPM,
        output_tokens_per_hour=NEVER_OUTPUT_TOKENS, output_tokens_per_day=NEVER_OUTPUT_TOKENS,
    )
    TenantService(database).create(name="bench", tier="bench")
    return keys.create(name="bench", tenant="bench", limits=KeyLimits(
        requests_per_minute=NEVER_RPM, tokens_per_minute=NEVER_TPM, monthly_budget_nano=NEVER_NANO,
    )).secret


async def _never_sample(metrics: Any, **options: Any) -> None:
    """Stands in for `watch_event_loop` when the benchmark leaves the sampler out."""


def _without_ledger(app: Any) -> None:
    """Drop usage records once the lifespan has built the gateway (bench only; no setting does this)."""
    original = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(instance: Any) -> AsyncIterator[Any]:
        async with original(instance) as state:
            app.state.gateway.accounting.ledger.record = lambda record: None
            yield state

    app.router.lifespan_context = lifespan


def _settle_before_answering() -> None:
    """Await each reply's settlement before it is sent, as the gateway did before (bench only)."""
    original = Gateway.serve

    async def serve(self: Gateway, *args: Any, **kwargs: Any) -> Reply:
        return await original(self, *args, **{**kwargs, "settle_after": False})

    Gateway.serve = serve  # type: ignore[method-assign]


def serve(
    port: int,
    *,
    model_id: str,
    upstream_url: str | Sequence[str],
    cpu: int | None,
    key_out: Connection,
    access_log: str | None = None,
    metering: Metering = Metering(),
    settle: bool = True,
    database_url: str | None = None,
    sample_loop: bool = True,
    settle_inline: bool = False,
) -> None:
    """Process entry point: build the gateway, send its API key through `key_out`, serve.

    `access_log` names a file that receives the INFO-level log as `llmaas serve` configures it
    (one JSON line per request); without it only warnings are logged. After a clean shutdown
    (SIGTERM), the number of rows the ledger wrote goes through `key_out` too. `settle=False` leaves
    the garbage collector as CPython sets it (the tree before `settle_heap`); `database_url` replaces
    the SQLite file (PostgreSQL: an empty database); `sample_loop=False` leaves out the event-loop lag
    sampler (to measure what it costs); `settle_inline=True` settles each answer before sending it
    (the tree before settlement moved after the answer).
    """
    pin(cpu)
    if access_log:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s",
            stream=open(access_log, "a"),  # noqa: SIM115 - lives as long as the process
        )
    home = Path(tempfile.mkdtemp(prefix="llmaas-bench-"))
    try:
        settings = Settings(home=home, redis_url=metering.redis_url, database_url=database_url)
        database = create_database_engine(settings.resolved_database_url)
        migrate(database)
        secret = _issue_key(database, metering.limits)
        if settle_inline:
            _settle_before_answering()
        if not sample_loop:
            llmaas.app.watch_event_loop = _never_sample  # type: ignore[attr-defined]
        app = create_app(settings, catalog=bench_catalog(model_id, upstream_url), database=database,
                         meter=NoopMeter() if metering.meter == "noop" else None)
        if not metering.ledger:
            _without_ledger(app)
        key_out.send(secret)
        # uvicorn shuts down gracefully on SIGTERM (the lifespan flushes the ledger), then raises the
        # signal again with the handler it found: let that one return, so the count below still runs.
        signal.signal(signal.SIGTERM, lambda signum, frame: None)
        server = SettledServer if settle else uvicorn.Server  # as `llmaas serve` does, or not
        server(uvicorn.Config(
            app, host="127.0.0.1", port=port, loop="uvloop", http=http_protocol(settings),
            access_log=False, log_level="warning", backlog=4096,
        )).run()
        with Session(database) as session:
            rows = session.scalar(select(func.count()).select_from(UsageEventRow))
        with contextlib.suppress(OSError):  # nobody is listening any more
            key_out.send(rows)
    finally:
        key_out.close()
        shutil.rmtree(home, ignore_errors=True)
        sys.stdout.flush()


@dataclass
class Started:
    url: str
    key: str
    process: BaseProcess
    report: Connection  # after the key, the ledger's row count arrives here at a clean shutdown


def start(ctx: SpawnContext, processes: list[BaseProcess], *, name: str, **options: Any) -> Started:
    """Start `serve` in its own process (added to `processes`, which the caller stops), wait for its
    API key and for /ready. `options` are `serve`'s keyword arguments but `key_out`."""
    port = free_port()
    receive, send = ctx.Pipe(duplex=False)
    process = ctx.Process(target=serve, args=(port,), kwargs={**options, "key_out": send}, name=name)
    process.start()
    processes.append(process)
    send.close()
    if not receive.poll(60):
        raise RuntimeError(f"{name} did not issue its API key in time")
    key: str = receive.recv()
    url = f"http://127.0.0.1:{port}"
    wait_http(f"{url}/ready", timeout_s=60, alive=process.is_alive, what=name)
    return Started(url, key, process, receive)
