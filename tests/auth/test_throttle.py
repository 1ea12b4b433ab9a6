"""Failed authentications per client address: a burst, a trickle, then 429 (issue 9); with Redis,
counted for every replica together."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
from redis.asyncio import Redis

from llmaas.auth import FailedAuthentications, SharedFailedAuthentications
from llmaas.errors import TooManyFailedAuthentications
from tests.servers import free_port, redis_server


def fail(throttle: FailedAuthentications, *addresses: str) -> None:
    async def each() -> None:
        for address in addresses:
            await throttle.failed(address)

    asyncio.run(each())


def test_a_burst_of_failures_then_a_429_that_says_when() -> None:
    throttle = FailedAuthentications(burst=3, per_minute=60)
    for _ in range(3):
        throttle.check("10.0.0.1")
        fail(throttle, "10.0.0.1")
    with pytest.raises(TooManyFailedAuthentications) as caught:
        throttle.check("10.0.0.1")
    assert caught.value.status_code == 429 and 0 < caught.value.retry_after_s <= 1
    throttle.check("10.0.0.2")  # another address is not concerned


def test_the_address_recovers_at_the_steady_rate() -> None:
    throttle = FailedAuthentications(burst=1, per_minute=600)  # one failure per 0.1 s
    fail(throttle, "10.0.0.1")
    with pytest.raises(TooManyFailedAuthentications):
        throttle.check("10.0.0.1")
    time.sleep(0.12)
    throttle.check("10.0.0.1")


def test_an_ipv6_host_counts_as_its_64() -> None:
    throttle = FailedAuthentications(burst=2, per_minute=1)
    fail(throttle, "2001:db8:1:2::1", "2001:db8:1:2:ffff::7")
    with pytest.raises(TooManyFailedAuthentications):
        throttle.check("2001:db8:1:2::99")
    throttle.check("2001:db8:1:3::1")


def test_memory_stays_bounded() -> None:
    throttle = FailedAuthentications(burst=5, per_minute=60)
    fail(throttle, *(f"10.{index >> 16 & 255}.{index >> 8 & 255}.{index & 255}" for index in range(150_000)))
    assert len(throttle._next) <= 100_000


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    with redis_server(tmp_path_factory.mktemp("redis"), port, "--port", str(port)):
        yield f"redis://127.0.0.1:{port}/0"


def test_replicas_sharing_redis_share_the_count(redis_url: str) -> None:
    async def main() -> None:
        one, other = (SharedFailedAuthentications(Redis.from_url(redis_url), burst=3, per_minute=60,
                                                  prefix="test:shared:") for _ in range(2))
        await one.start()
        await other.start()
        try:
            await one.failed("10.0.0.1")
            await other.failed("10.0.0.1")
            await one.failed("10.0.0.1")  # the third, from either: the burst is spent
            for replica in (one, other):  # the other learns it without failing itself
                for _ in range(100):
                    try:
                        replica.check("10.0.0.1")
                    except TooManyFailedAuthentications:
                        break
                    await asyncio.sleep(0.01)
                else:
                    pytest.fail("the block was not shared")
            other.check("10.0.0.2")
        finally:
            await one.close()
            await other.close()

    asyncio.run(main())


def test_without_redis_each_replica_counts_alone() -> None:
    async def main() -> None:
        throttle = SharedFailedAuthentications(
            Redis.from_url(f"redis://127.0.0.1:{free_port()}/0"), burst=2, per_minute=60)
        await throttle.start()
        try:
            await throttle.failed("10.0.0.1")
            throttle.check("10.0.0.1")
            await throttle.failed("10.0.0.1")
            with pytest.raises(TooManyFailedAuthentications):
                throttle.check("10.0.0.1")
        finally:
            await throttle.close()

    asyncio.run(main())
