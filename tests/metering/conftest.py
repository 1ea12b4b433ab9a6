"""A real redis-server for the meter tests, the two backends as one fixture, and a clock to move."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from typing import Protocol

import pytest

from llmaas.metering import MemoryMeter, Meter, RedisMeter
from tests.servers import free_port, redis_server


class FakeClock:
    """Seconds since the epoch that move only when told; starts mid-November 2026 (UTC)."""

    def __init__(self, start: datetime = datetime(2026, 11, 15, tzinfo=UTC)) -> None:
        self.now = start.timestamp()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class MeterFactory(Protocol):
    def __call__(self, *, clock: Callable[[], float], reservation_ttl_s: float = 3600.0) -> Meter: ...


def run(make: Callable[[], Meter], scenario: Callable[[Meter], Awaitable[None]]) -> None:
    """Build the meter inside the event loop (a Redis client belongs to one loop), run, close."""

    async def main() -> None:
        meter = make()
        try:
            await scenario(meter)
        finally:
            await meter.close()

    asyncio.run(main())


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    with redis_server(tmp_path_factory.mktemp("redis"), port, "--port", str(port)):
        yield f"redis://127.0.0.1:{port}/0"


@pytest.fixture
def redis_prefix() -> str:
    """A key prefix of its own per test, so tests share one server without seeing each other."""
    return f"test:{uuid.uuid4().hex[:12]}:"


@pytest.fixture(params=["memory", "redis"])
def make_meter(request: pytest.FixtureRequest, redis_prefix: str) -> MeterFactory:
    if request.param == "memory":
        return MemoryMeter
    url: str = request.getfixturevalue("redis_url")

    def make(*, clock: Callable[[], float], reservation_ttl_s: float = 3600.0) -> Meter:
        return RedisMeter.from_url(url, clock=clock, reservation_ttl_s=reservation_ttl_s, prefix=redis_prefix)

    return make
