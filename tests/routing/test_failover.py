"""Routing through the gateway to fake upstreams that fail, hang, flap and fill up."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import openai
import pytest

from llmaas.app import create_app
from llmaas.auth import KeyService
from llmaas.catalog import Catalog, ModelEntry, Upstream
from llmaas.routing import Router
from llmaas.routing.breaker import CircuitBreaker
from llmaas.settings import Settings
from llmaas.storage.database import create_database_engine, migrate
from tests.clients import sdk
from tests.fakes import FakeEngine
from tests.servers import free_port, serve, wait_for

HI = [{"role": "user", "content": "Hi"}]


@dataclass
class Fleet:
    url: str
    key: str
    a: FakeEngine
    b: FakeEngine
    router: Router

    def client(self) -> openai.OpenAI:
        return sdk(f"{self.url}/v1", self.key)


def model(model_id: str, urls: list[str]) -> ModelEntry:
    return ModelEntry(id=model_id, family="f", owned_by="o", capabilities=["chat"], context_length=4096,
                      max_output_tokens=64, license="MIT",
                      upstreams=[Upstream(url=f"{url}/v1", model="fake") for url in urls])


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    home: Path = tmp_path_factory.mktemp("fleet")
    settings = Settings(home=home, health_interval_s=0.2, upstream_timeout_s=1.0, max_in_flight_per_model=3,
                        max_queued_per_model=2, queue_timeout_s=5)
    database = create_database_engine(settings.resolved_database_url)
    migrate(database)
    secret = KeyService(database).create(name="fleet").secret
    a, b = FakeEngine(model="fake"), FakeEngine(model="fake")
    closed = f"http://127.0.0.1:{free_port()}"
    with serve(a.app()) as url_a, serve(b.app()) as url_b:
        catalog = Catalog([model("pair", [url_a, url_b]), model("with-dead", [closed, url_b]),
                           model("solo", [url_a])])
        app = create_app(settings, catalog=catalog, database=database)
        with serve(app) as url:
            fleet = Fleet(url, secret, a, b, app.state.served_catalog.router)
            wait_for(lambda: fleet.router.pools["pair"].targets[1].healthy, timeout_s=5, interval_s=0.05)
            yield fleet


@pytest.fixture(autouse=True)
def reset(fleet: Fleet) -> None:
    for engine in (fleet.a, fleet.b):
        engine.mode = "ok"
        engine.requests.clear()
    for pool in fleet.router.pools.values():
        for target in pool.targets:
            target.breaker = CircuitBreaker()


def test_a_5xx_before_the_first_byte_is_retried_on_the_other_upstream(fleet: Fleet) -> None:
    fleet.a.mode = "server_error"
    for _ in range(8):
        assert fleet.client().chat.completions.create(model="pair", messages=HI).choices  # type: ignore[arg-type]
    assert len(fleet.b.requests) == 8
    assert len(fleet.a.requests) == 3, "after three failures in a row the breaker stops sending"
    assert fleet.router.pools["pair"].targets[0].breaker.state == "open"


def test_the_breaker_lets_one_probe_through_and_closes(fleet: Fleet) -> None:
    target = fleet.router.pools["pair"].targets[0]
    target.breaker = CircuitBreaker(threshold=1, base_cooldown_s=0.3)
    fleet.a.mode = "server_error"
    for _ in range(2):  # the pair takes turns: one of these goes to A first, fails there, moves on to B
        fleet.client().chat.completions.create(model="pair", messages=HI)  # type: ignore[arg-type]
    assert target.breaker.state == "open"
    fleet.a.mode = "ok"
    time.sleep(0.35)
    for _ in range(4):
        fleet.client().chat.completions.create(model="pair", messages=HI)  # type: ignore[arg-type]
    assert target.breaker.state == "closed" and len(fleet.a.requests) >= 2


def test_a_dead_upstream_is_skipped(fleet: Fleet) -> None:
    for _ in range(5):
        assert fleet.client().chat.completions.create(model="with-dead", messages=HI).choices  # type: ignore[arg-type]
    assert len(fleet.b.requests) == 5
    assert fleet.router.readiness()["with-dead"] is True, "one healthy upstream keeps the model ready"


def test_a_hanging_upstream_times_out_with_a_retryable_503(fleet: Fleet) -> None:
    fleet.a.mode = "hang"
    started = time.monotonic()
    response = httpx.post(f"{fleet.url}/v1/chat/completions", json={"model": "solo", "messages": HI},
                          headers={"Authorization": f"Bearer {fleet.key}"}, timeout=10)
    assert response.status_code == 503 and "retry-after" in response.headers
    assert time.monotonic() - started < 5


def test_a_full_model_queues_a_few_and_refuses_the_rest_at_once(fleet: Fleet) -> None:
    fleet.a.mode = "slow"  # 0.5 s per answer; the model takes 3 in flight and 2 in its queue

    async def one(client: httpx.AsyncClient) -> tuple[int, float]:
        started = time.monotonic()
        response = await client.post(f"{fleet.url}/v1/chat/completions",
                                     json={"model": "solo", "messages": HI},
                                     headers={"Authorization": f"Bearer {fleet.key}"})
        if response.status_code == 503:
            assert response.headers["retry-after"] == "1"
        return response.status_code, time.monotonic() - started

    async def burst() -> list[tuple[int, float]]:
        async with httpx.AsyncClient(timeout=10) as client:
            return list(await asyncio.gather(*(one(client) for _ in range(8))))

    answers = asyncio.run(burst())
    served = [seconds for status, seconds in answers if status == 200]
    refused = [seconds for status, seconds in answers if status == 503]
    assert (len(served), len(refused)) == (5, 3)
    assert max(refused) < 0.45, "the refused ones did not wait for the first answers"
    assert max(served) > 0.9, "the queued ones waited for a place, then were served"


def test_an_upstream_that_flaps_costs_no_request(fleet: Fleet) -> None:
    ok = 0
    for i in range(12):
        fleet.a.mode = "server_error" if i % 2 else "ok"
        ok += bool(fleet.client().chat.completions.create(model="pair", messages=HI).choices)  # type: ignore[arg-type]
    assert ok == 12
