"""Real `llmaas serve --no-embedded` processes in front of a fake engine: budgets shared by two
replicas through Redis and PostgreSQL, and what the usage ledger keeps when a gateway is killed.

The engine is a fake (tests/fakes.py) because what is tested is the gateway's own bookkeeping; the
gateways, Redis and PostgreSQL are real, and each gateway is a process of its own, as in production.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from llmaas.auth import KeyLimits, KeyService
from llmaas.catalog import ModelEntry
from llmaas.gateway.estimates import text_tokens_upper_bound
from llmaas.metering.pricing import Usage, cost_nano
from llmaas.metering.reports import month_start
from llmaas.storage.tables import UsageEventRow
from tests.databases import KINDS, fresh_database
from tests.fakes import FakeEngine
from tests.servers import free_port, serve, wait_for

MODEL = "chat-model"
HI = [{"role": "user", "content": "Hi"}]
MAX_TOKENS = 16
NANO_PER_INPUT_TOKEN = 1_000_000  # 1000 EUR per million input tokens
NANO_PER_OUTPUT_TOKEN = 2_000_000  # 2000 EUR per million output tokens
STARTUP_TIMEOUT_S = 90  # two cores, two Python processes importing the web stack at once


def catalog_toml(engine_url: str) -> str:
    return f"""
[[models]]
id = "{MODEL}"
family = "test"
owned_by = "tests"
capabilities = ["chat", "completions"]
context_length = 4096
max_output_tokens = 512
license = "MIT"
pricing = {{ input_per_million_tokens = 1000, output_per_million_tokens = 2000 }}
upstreams = [{{ url = "{engine_url}/v1", model = "upstream-name" }}]
"""


def reported_cost(body: dict[str, Any]) -> int:
    """What a response's usage costs at the catalog's prices, computed here, not by the gateway."""
    usage = body["usage"]
    return int(usage["prompt_tokens"]) * NANO_PER_INPUT_TOKEN + int(
        usage["completion_tokens"]) * NANO_PER_OUTPUT_TOKEN


def worst_case() -> tuple[int, int]:
    """The input-token bound and the reservation the gateway holds for one request of these tests."""
    bound = text_tokens_upper_bound([HI, []], context_length=4096, messages=len(HI))
    assert bound < 100, "a two-letter message cannot bound to more than a few dozen tokens"
    entry = ModelEntry.model_validate({
        "id": MODEL, "family": "test", "owned_by": "tests", "capabilities": ["chat"],
        "context_length": 4096, "license": "MIT", "upstreams": [{"url": "http://x/v1"}],
        "pricing": {"input_per_million_tokens": 1000, "output_per_million_tokens": 2000},
    })
    reservation = cost_nano(entry, Usage(bound, MAX_TOKENS))
    assert reservation == bound * NANO_PER_INPUT_TOKEN + MAX_TOKENS * NANO_PER_OUTPUT_TOKEN
    return bound, reservation


# -- gateway processes ---------------------------------------------------------------------------


@dataclass
class Gateway:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self, sig: signal.Signals = signal.SIGTERM, *, timeout_s: float = 60) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
            raise


def gateway_env(home: Path, database: Engine, *, flush_interval_s: float,
                redis_url: str | None = None) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("LLMAAS_")}
    env.update({
        "LLMAAS_HOME": str(home),
        "LLMAAS_DATABASE_URL": database.url.render_as_string(hide_password=False),
        "LLMAAS_LEDGER_FLUSH_INTERVAL_S": str(flush_interval_s),
        "LLMAAS_HEALTH_INTERVAL_S": "0.5",
    })
    if redis_url is not None:
        env["LLMAAS_REDIS_URL"] = redis_url
    return env


def start_gateway(catalog: Path, env: dict[str, str], log: Path) -> Gateway:
    port = free_port()
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "llmaas", "serve", "--no-embedded", "--catalog", str(catalog),
             "--port", str(port)],
            env=env, stdout=out, stderr=subprocess.STDOUT,
        )
    return Gateway(f"http://127.0.0.1:{port}", process, log)


def wait_ready(gateway: Gateway) -> None:
    wait_for(lambda: httpx.get(f"{gateway.url}/ready", timeout=2).status_code == 200,
             timeout_s=STARTUP_TIMEOUT_S, interval_s=0.2, process=gateway.process, log=gateway.log,
             what="llmaas serve ready")


@contextmanager
def gateways(catalog: Path, env: dict[str, str], logs: list[Path]) -> Iterator[list[Gateway]]:
    """Start one gateway per log file, all at once; whatever happens, none outlives the test."""
    started = [start_gateway(catalog, env, log) for log in logs]
    try:
        for gateway in started:
            wait_ready(gateway)
        yield started
    finally:
        for gateway in started:
            if gateway.process.poll() is None:
                gateway.process.kill()
                gateway.process.wait(10)


@pytest.fixture
def fake_engine() -> Iterator[tuple[FakeEngine, str]]:
    engine = FakeEngine(model="upstream-name")
    with serve(engine.app()) as url:
        yield engine, url


@pytest.fixture
def catalog_file(tmp_path: Path, fake_engine: tuple[FakeEngine, str]) -> Path:
    path = tmp_path / "catalog.toml"
    path.write_text(catalog_toml(fake_engine[1]))
    return path


@pytest.fixture
def clean_redis_url(redis_url: str) -> str:
    """Database 1 of the shared test Redis, emptied: gateways use their default key prefix, and the
    key ids of a fresh PostgreSQL database start at 1 again, so no counter may survive a test."""
    url = redis_url.rsplit("/", 1)[0] + "/1"
    with redis.Redis.from_url(url) as client:
        client.flushdb()
    return url


def ledger_rows(database: Engine, key_id: int) -> dict[str, int]:
    """request id → cost of each ledger row of a key."""
    with Session(database) as session:
        query = select(UsageEventRow.request_id, UsageEventRow.cost_nano).where(
            UsageEventRow.key_id == key_id)
        return {request_id: cost for request_id, cost in session.execute(query)}


def wait_for_rows(database: Engine, key_id: int, count: int, *, timeout_s: float = 30) -> dict[str, int]:
    deadline = time.monotonic() + timeout_s
    rows = ledger_rows(database, key_id)
    while len(rows) < count and time.monotonic() < deadline:
        time.sleep(0.1)
        rows = ledger_rows(database, key_id)
    return rows


# -- 1. two replicas, one budget -----------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    replica: int
    status: int
    headers: httpx.Headers
    body: dict[str, Any]


async def burst(urls: list[str], secret: str, requests: int, tag: str) -> list[Answer]:
    """All requests at once, alternating between the replicas."""
    limits = httpx.Limits(max_connections=requests, max_keepalive_connections=requests)
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:

        async def one(index: int) -> Answer:
            replica = index % len(urls)
            response = await client.post(
                f"{urls[replica]}/v1/chat/completions",
                json={"model": MODEL, "messages": HI, "max_tokens": MAX_TOKENS},
                headers={"Authorization": f"Bearer {secret}", "x-request-id": f"{tag}-{index}"},
            )
            return Answer(replica, response.status_code, response.headers, response.json())

        return await asyncio.gather(*(one(i) for i in range(requests)))


def check_refusals(answers: list[Answer]) -> None:
    for answer in answers:
        assert answer.status == 429, answer.body
        assert answer.body["error"]["code"] == "insufficient_quota"
        assert "key budget" in answer.body["error"]["message"]
        assert answer.headers["x-should-retry"] == "false"


def test_two_replicas_share_one_budget_through_redis_and_postgresql(
    postgres_admin_url: str, clean_redis_url: str, tmp_path: Path,
    fake_engine: tuple[FakeEngine, str], catalog_file: Path,
) -> None:
    started = time.monotonic()
    bound, reservation = worst_case()
    budget = 50 * reservation
    # Each answer reports a little less than its worst case (as real answers do), so settlement gives
    # some budget back; a second wave then shows the returned budget is shared by both replicas.
    prompt_tokens = bound - 3
    real_cost = prompt_tokens * NANO_PER_INPUT_TOKEN + MAX_TOKENS * NANO_PER_OUTPUT_TOKEN
    assert 200 * real_cost > budget + reservation, "200 requests must ask for more than the budget"
    engine, _ = fake_engine
    engine.delay_s = 0.3  # every request is in flight a while, so admissions overlap
    engine.usage = {"prompt_tokens": prompt_tokens, "completion_tokens": MAX_TOKENS,
                    "total_tokens": prompt_tokens + MAX_TOKENS}
    database = fresh_database("postgresql", sqlite_dir=tmp_path, postgres_admin_url=postgres_admin_url)
    issued = KeyService(database).create(name="replicas", limits=KeyLimits(monthly_budget_nano=budget))
    env = gateway_env(tmp_path, database, flush_interval_s=0.2, redis_url=clean_redis_url)
    try:
        with gateways(catalog_file, env, [tmp_path / "replica-a.log", tmp_path / "replica-b.log"]) as pair:
            urls = [gateway.url for gateway in pair]
            # One request each first: a replica seeds the budget from the ledger on its first request,
            # and a burst must not be over before the slower replica has seeded.
            warm = asyncio.run(burst(urls, issued.secret, 2, "warm"))
            assert [a.status for a in warm] == [200, 200]
            answers = asyncio.run(burst(urls, issued.secret, 200, "burst"))
            admitted = [a for a in answers if a.status == 200]
            admitted_in_burst = len(admitted)
            check_refusals([a for a in answers if a.status != 200])
            # Either replica alone would admit about 50 of its 100; together they admit about 50 in all,
            # and both refuse: each knows what the other spent.
            assert {a.replica for a in answers if a.status == 429} == {0, 1}, "both replicas refused"
            accepted = warm + admitted
            spent_in_burst = sum(reported_cost(a.body) for a in accepted)
            # Overspend is at most one reservation; and since no real cost exceeds its reservation,
            # any refusal proves the budget was within one reservation of full: at least 50 passed.
            assert spent_in_burst <= budget + reservation
            assert len(accepted) >= budget // reservation
            assert admitted_in_burst < 200

            # Settled: what the burst did not use is free again, on either replica.
            wave = asyncio.run(burst(urls, issued.secret, 10, "wave"))
            check_refusals([a for a in wave if a.status != 200])
            accepted_in_wave = [a for a in wave if a.status == 200]
            assert len(accepted_in_wave) >= (budget - spent_in_burst) // reservation
            accepted += accepted_in_wave
            costs = {a.headers["x-request-id"]: reported_cost(a.body) for a in accepted}
            spent = sum(costs.values())
            assert spent <= budget + reservation

            rows = wait_for_rows(database, issued.key.id, len(accepted))
            assert rows == costs, "the ledger holds exactly the accepted requests, at their cost"
            period = month_start().strftime("%Y-%m")
            with redis.Redis.from_url(clean_redis_url) as client:
                counters = client.hgetall(f"llmaas:budget:key_budget:key:{issued.key.id}:{period}")
            assert int(counters[b"spent"]) == spent and int(counters[b"reserved"]) == 0

            assert [gateway.stop() for gateway in pair] == [0, 0]
        assert ledger_rows(database, issued.key.id) == costs, "a clean stop writes nothing twice"
    finally:
        database.dispose()
    on_b = sum(a.replica for a in accepted)
    print(f"\nreplicas: burst of 200 admitted {admitted_in_burst}, "
          f"wave of 10 admitted {len(accepted_in_wave)}; {len(accepted) - on_b} on replica A, {on_b} on B; "
          f"reservation {reservation / 1e9:.3f} EUR, real cost {real_cost / 1e9:.3f} EUR; "
          f"spent/budget = {spent / budget:.4f}; {time.monotonic() - started:.1f} s")


# -- 2. kill -9 under load, then a clean stop ----------------------------------------------------


@dataclass
class Load:
    """A steady stream of requests from `workers` clients; success times on the monotonic clock."""

    url: str
    secret: str
    tag: str
    workers: int = 16
    max_requests: int = 20_000
    max_seconds: float = 60
    succeeded: dict[str, float] = field(default_factory=dict)  # request id → when the client had it
    failed_before_signal: list[str] = field(default_factory=list)
    signalled_at: float | None = None

    async def run(self, act: Callable[[], None], *, successes: int, seconds: float) -> None:
        """Load until at least `successes` requests succeeded over at least `seconds`, call `act()`
        (a signal), then go on until every client has seen the gateway go away."""
        counter = itertools.count()
        deadline = time.monotonic() + self.max_seconds
        limits = httpx.Limits(max_connections=self.workers)
        async with httpx.AsyncClient(timeout=60, limits=limits) as client:

            async def worker() -> None:
                while time.monotonic() < deadline:
                    number = next(counter)
                    if number >= self.max_requests:
                        return
                    request_id = f"{self.tag}-{number}"
                    try:
                        response = await client.post(
                            f"{self.url}/v1/chat/completions",
                            json={"model": MODEL, "messages": HI, "max_tokens": MAX_TOKENS},
                            headers={"Authorization": f"Bearer {self.secret}", "x-request-id": request_id},
                        )
                    except httpx.TransportError:
                        if self.signalled_at is None:
                            self.failed_before_signal.append(request_id)
                        return
                    if response.status_code == 200:
                        self.succeeded[request_id] = time.monotonic()
                    elif self.signalled_at is None:
                        self.failed_before_signal.append(request_id)

            async def trigger() -> None:
                began = time.monotonic()
                while time.monotonic() < deadline and (
                    len(self.succeeded) < successes or time.monotonic() - began < seconds
                ):
                    await asyncio.sleep(0.005)
                self.signalled_at = time.monotonic()
                act()

            await asyncio.gather(trigger(), *(worker() for _ in range(self.workers)))


@pytest.mark.parametrize("kind", KINDS)
def test_kill_9_under_load_loses_at_most_one_flush_interval(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path,
    fake_engine: tuple[FakeEngine, str], catalog_file: Path,
) -> None:
    started = time.monotonic()
    engine, _ = fake_engine
    engine.delay_s = 0.01
    admin_url = request.getfixturevalue("postgres_admin_url") if kind == "postgresql" else None
    database = fresh_database(kind, sqlite_dir=tmp_path, postgres_admin_url=admin_url)
    issued = KeyService(database).create(name="load")
    interval = 0.5
    # ledger.py: a crash loses at most the last flush interval's records. A record waits for the next
    # flush (≤ interval, plus the previous flush's own duration and event-loop lag under load), and
    # the client sees its answer only after the record was made; 0.5 s covers the lag on two cores.
    bound_s = interval + 0.5
    try:
        # -- kill -9 ----------------------------------------------------------------------------
        env = gateway_env(tmp_path, database, flush_interval_s=interval)
        with gateways(catalog_file, env, [tmp_path / "killed.log"]) as [gateway]:
            load = Load(gateway.url, issued.secret, "kill")
            # Several flush intervals of load before the kill, so older records exist and must be kept.
            kill = lambda: gateway.process.send_signal(signal.SIGKILL)  # noqa: E731
            asyncio.run(load.run(kill, successes=300, seconds=4 * bound_s))
            assert gateway.process.wait(10) == -signal.SIGKILL
        killed_at = load.signalled_at
        assert killed_at is not None
        assert not load.failed_before_signal, "nothing failed before the kill"
        first_success = min(load.succeeded.values())
        assert killed_at - first_success > 3 * bound_s, "the load ran long enough to be meaningful"

        # -- restart on the same database: the ledger as the dead gateway left it --------------
        env = gateway_env(tmp_path, database, flush_interval_s=60)  # only the shutdown flush writes
        with gateways(catalog_file, env, [tmp_path / "restarted.log"]) as [gateway]:
            kept = ledger_rows(database, issued.key.id)
            lost = {rid: at for rid, at in load.succeeded.items() if rid not in kept}
            ages = sorted(killed_at - at for at in lost.values())
            assert all(age < bound_s for age in ages), (
                f"{len(lost)} lost rows; the oldest completed {ages[-1]:.3f} s before the kill")
            unseen = len(set(kept) - set(load.succeeded))  # written, but the answer never arrived
            assert unseen <= load.workers

            # -- a clean stop (SIGTERM) under load loses nothing ---------------------------------
            calm = Load(gateway.url, issued.secret, "term")

            def terminate() -> None:
                assert not {rid for rid in ledger_rows(database, issued.key.id) if rid.startswith("term-")}, (
                    "with a 60 s interval nothing is written before the stop")
                gateway.process.send_signal(signal.SIGTERM)

            asyncio.run(calm.run(terminate, successes=300, seconds=1))
            assert gateway.process.wait(60) == 0, "llmaas serve exits cleanly on SIGTERM"
        assert not calm.failed_before_signal
        after = ledger_rows(database, issued.key.id)
        written = {rid for rid in after if rid.startswith("term-")}
        assert set(calm.succeeded) <= written, "every answered request is in the ledger after a clean stop"
        assert len(written - set(calm.succeeded)) == 0, "and nothing the clients did not receive"
    finally:
        database.dispose()
    rate = len(load.succeeded) / (killed_at - first_success)
    print(f"\nkill -9 on {kind}: {len(load.succeeded)} succeeded at {rate:.0f} req/s, {len(lost)} lost "
          f"(oldest {max(ages, default=0):.3f} s before the kill; bound {bound_s} s, flush every "
          f"{interval} s, i.e. ≤ {rate * bound_s:.0f} rows), {unseen} written but unanswered; "
          f"SIGTERM: {len(calm.succeeded)} succeeded, all written; {time.monotonic() - started:.1f} s")
