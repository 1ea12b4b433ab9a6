"""A model's places and its queue: a bounded, first-come-first-served, time-limited wait, never an
unbounded pile of requests."""

from __future__ import annotations

import asyncio

import pytest

from llmaas.errors import EngineUnavailable
from llmaas.routing.pool import UpstreamPool


def model(*, places: int, queue: int, timeout_s: float = 5.0) -> UpstreamPool:
    return UpstreamPool("m", [], max_in_flight=places, max_queued=queue, queue_timeout_s=timeout_s)


async def hold(pool: UpstreamPool, release: asyncio.Event, order: list[str], name: str) -> None:
    async with pool.slot():
        order.append(name)
        await release.wait()


def test_queued_requests_get_places_in_arrival_order_and_the_queue_is_bounded() -> None:
    async def main() -> None:
        pool = model(places=2, queue=2)
        release, order = asyncio.Event(), list[str]()
        held = [asyncio.create_task(hold(pool, release, order, name)) for name in "abcd"]
        await asyncio.sleep(0.01)
        assert order == ["a", "b"] and (pool.in_flight, pool.queued) == (2, 2)
        with pytest.raises(EngineUnavailable, match="saturated") as refused:
            async with pool.slot():
                pass
        assert refused.value.retry_after_s == 1, "refused at once, retryable"
        release.set()
        await asyncio.gather(*held)
        assert order == ["a", "b", "c", "d"] and (pool.in_flight, pool.queued) == (0, 0)

    asyncio.run(main())


def test_a_request_waits_at_most_the_queue_timeout() -> None:
    async def main() -> None:
        pool = model(places=1, queue=5, timeout_s=0.1)
        release, order = asyncio.Event(), list[str]()
        busy = asyncio.create_task(hold(pool, release, order, "busy"))
        await asyncio.sleep(0.01)
        started = asyncio.get_running_loop().time()
        with pytest.raises(EngineUnavailable, match=r"stayed saturated for 0\.1 s"):
            async with pool.slot():
                pass
        assert 0.09 < asyncio.get_running_loop().time() - started < 1
        assert (pool.in_flight, pool.queued) == (1, 0), "the one that gave up left the queue"
        release.set()
        await busy
        assert pool.in_flight == 0

    asyncio.run(main())


def test_a_client_leaving_the_queue_takes_no_place_with_it() -> None:
    async def main() -> None:
        pool = model(places=1, queue=2)
        release, order = asyncio.Event(), list[str]()
        busy = asyncio.create_task(hold(pool, release, order, "busy"))
        await asyncio.sleep(0.01)
        leaving = asyncio.create_task(hold(pool, release, order, "leaving"))
        staying = asyncio.create_task(hold(pool, release, order, "staying"))
        await asyncio.sleep(0.01)
        leaving.cancel()
        await asyncio.sleep(0.01)
        assert pool.queued == 1
        release.set()
        await asyncio.gather(busy, staying)
        with pytest.raises(asyncio.CancelledError):
            await leaving
        assert order == ["busy", "staying"] and (pool.in_flight, pool.queued) == (0, 0)

    asyncio.run(main())


def test_without_a_queue_a_full_model_refuses_at_once() -> None:
    async def main() -> None:
        pool = model(places=1, queue=0)
        release, order = asyncio.Event(), list[str]()
        busy = asyncio.create_task(hold(pool, release, order, "busy"))
        await asyncio.sleep(0.01)
        with pytest.raises(EngineUnavailable, match="saturated"):
            async with pool.slot():
                pass
        release.set()
        await busy

    asyncio.run(main())
