"""200 concurrent requests against a budget that covers about 50: no overspend, in one process and
across two replicas sharing Redis (two meters in one loop, then two processes)."""

from __future__ import annotations

import asyncio
import multiprocessing
import random
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier

from llmaas.metering import (
    Admission,
    Budget,
    BudgetUsage,
    Limits,
    MemoryMeter,
    Meter,
    QuotaExceeded,
    RateLimited,
    RedisMeter,
)
from tests.metering.conftest import FakeClock

RESERVATION = 123_456_789  # nano-euros, the worst case of each request
BUDGET = Budget("key:7", "key_budget", 50 * RESERVATION, "2026-11")


Outcome = tuple[list[int], int]  # the settled costs, and how many were refused for quota


async def hammer(meter: Meter, *, requests: int, seed: int, spread_s: float = 0.01) -> Outcome:
    """Admit → work a little → settle at a real cost below the reservation, arrivals over `spread_s`."""
    rng = random.Random(seed)

    async def one(index: int) -> int | None:
        admission = Admission(f"req_{seed}_{index}", [], [BUDGET], 1000, RESERVATION)
        await asyncio.sleep(rng.uniform(0, spread_s))  # arrivals spread, so replicas interleave
        try:
            reservation, _ = await meter.admit(admission)
        except QuotaExceeded:
            return None
        await asyncio.sleep(rng.uniform(0, 0.02))
        cost = rng.randint(RESERVATION * 6 // 10, RESERVATION * 95 // 100)
        await meter.settle(reservation, cost_nano=cost, tokens=900, output_tokens=400)
        return cost

    outcomes = await asyncio.gather(*(one(i) for i in range(requests)))
    return [cost for cost in outcomes if cost is not None], outcomes.count(None)


def check(costs: list[int], refused: int, usage: BudgetUsage, *, requests: int = 200) -> None:
    assert len(costs) + refused == requests
    assert len(costs) >= 50 and refused > 0
    assert sum(costs) <= BUDGET.limit_nano + RESERVATION
    assert usage == BudgetUsage(sum(costs), 0), "every settled cost is counted, nothing stays reserved"


def test_in_process() -> None:
    async def scenario() -> None:
        meter = MemoryMeter()
        costs, refused = await hammer(meter, requests=200, seed=1)
        check(costs, refused, await meter.usage(BUDGET))

    asyncio.run(scenario())


def test_one_redis_meter(redis_url: str, redis_prefix: str) -> None:
    async def scenario() -> None:
        meter = RedisMeter.from_url(redis_url, prefix=redis_prefix)
        try:
            costs, refused = await hammer(meter, requests=200, seed=2)
            check(costs, refused, await meter.usage(BUDGET))
        finally:
            await meter.close()

    asyncio.run(scenario())


def test_two_redis_meters_in_one_loop(redis_url: str, redis_prefix: str) -> None:
    async def scenario() -> None:
        first, second = (RedisMeter.from_url(redis_url, prefix=redis_prefix) for _ in range(2))
        try:
            (costs_a, refused_a), (costs_b, refused_b) = await asyncio.gather(
                hammer(first, requests=100, seed=3), hammer(second, requests=100, seed=4)
            )
            check(costs_a + costs_b, refused_a + refused_b, await first.usage(BUDGET))
        finally:
            await first.close()
            await second.close()

    asyncio.run(scenario())


def test_two_redis_meters_share_a_rate_limit(redis_url: str, redis_prefix: str) -> None:
    clock = FakeClock()  # frozen: no refill during the test, so exactly the limit passes
    limits = [("key:7", Limits(requests_per_minute=30))]

    async def admit(meter: Meter, index: int) -> bool:
        try:
            await meter.admit(Admission(f"req_{index}", limits, [], 0, 0))
        except RateLimited:
            return False
        return True

    async def scenario() -> None:
        meters = [RedisMeter.from_url(redis_url, clock=clock, prefix=redis_prefix) for _ in range(2)]
        try:
            admitted = await asyncio.gather(*(admit(meters[i % 2], i) for i in range(100)))
            assert admitted.count(True) == 30
        finally:
            for meter in meters:
                await meter.close()

    asyncio.run(scenario())


def replica(url: str, prefix: str, seed: int, ready: Barrier, results: Queue[Outcome]) -> None:
    """One gateway replica in its own process: its own client, its own event loop."""

    async def main() -> Outcome:
        meter = RedisMeter.from_url(url, prefix=prefix)
        try:
            await meter.prepare()
            await asyncio.gather(*(meter.usage(BUDGET) for _ in range(50)))  # connections open
            ready.wait()  # both replicas start together, ready to go (blocking: nothing else runs)
            # Arrivals over 250 ms: a busy machine may start one process tens of milliseconds after
            # the other, and both must still be competing for the budget when it runs out.
            return await hammer(meter, requests=100, seed=seed, spread_s=0.25)
        finally:
            await meter.close()

    results.put(asyncio.run(main()))


def test_two_replica_processes_share_one_budget(redis_url: str, redis_prefix: str) -> None:
    context = multiprocessing.get_context("spawn")
    ready, results = context.Barrier(2), context.Queue()
    processes = [
        context.Process(target=replica, args=(redis_url, redis_prefix, seed, ready, results))
        for seed in (5, 6)
    ]
    for process in processes:
        process.start()
    outcomes: list[Outcome] = [results.get(timeout=60) for _ in processes]
    for process in processes:
        process.join(10)
    assert all(process.exitcode == 0 for process in processes)
    assert all(costs for costs, _ in outcomes), "both replicas admitted requests"
    costs = outcomes[0][0] + outcomes[1][0]

    async def usage() -> BudgetUsage:
        meter = RedisMeter.from_url(redis_url, prefix=redis_prefix)
        try:
            return await meter.usage(BUDGET)
        finally:
            await meter.close()

    check(costs, outcomes[0][1] + outcomes[1][1], asyncio.run(usage()))
