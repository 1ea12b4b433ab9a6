"""The meter's behaviour, the same on both backends (in-process and Redis), under an injected clock."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
import redis.asyncio

import llmaas.metering
from llmaas.metering import (
    Admission,
    Budget,
    BudgetUsage,
    Limits,
    Meter,
    MeterUnavailable,
    QuotaExceeded,
    RateLimited,
    RedisMeter,
)
from llmaas.metering.meter import BUDGET_GRACE_MS, MAX_NANO, BudgetKind, Charge
from tests.metering.conftest import FakeClock, MeterFactory, run
from tests.servers import free_port

KEY, TENANT = "key:1", "tenant:1"


def ask(
    *,
    key: Limits | None = None,
    tenant: Limits | None = None,
    budgets: tuple[Budget, ...] = (),
    tokens: int = 0,
    nano: int = 0,
    output: int | None = None,
) -> Admission:
    scopes = [(scope, limits) for scope, limits in ((KEY, key), (TENANT, tenant)) if limits is not None]
    return Admission("req_1", scopes, list(budgets), tokens, nano, max_output_tokens=output)


async def refused(meter: Meter, admission: Admission) -> RateLimited:
    with pytest.raises(RateLimited) as caught:
        await meter.admit(admission)
    return caught.value


def test_rpm_refuses_the_request_past_the_limit_until_the_bucket_refills(make_meter: MeterFactory) -> None:
    clock = FakeClock()
    request = ask(key=Limits(requests_per_minute=3))

    async def scenario(meter: Meter) -> None:
        _, state = await meter.admit(request)
        assert (state.limit_requests, state.remaining_requests, state.reset_requests_s) == (3, 2, 20.0)
        assert state.limit_tokens is None and state.remaining_tokens is None
        await meter.admit(request)
        _, state = await meter.admit(request)
        assert (state.remaining_requests, state.reset_requests_s) == (0, 60.0)
        error = await refused(meter, request)
        assert (error.status_code, error.code, error.type) == (429, "rate_limit_exceeded", "requests")
        assert (error.scope, error.limit_name, error.retry_after_s) == (KEY, "requests_per_minute", 20.0)
        assert "try again in 20s" in error.message
        clock.advance(19.5)
        assert (await refused(meter, request)).retry_after_s == 0.5
        clock.advance(0.5)
        await meter.admit(request)

    run(lambda: make_meter(clock=clock), scenario)


def test_every_scope_is_checked_and_the_longest_wait_is_reported(make_meter: MeterFactory) -> None:
    clock = FakeClock()
    key, tenant = Limits(requests_per_minute=3, tokens_per_minute=100), Limits(requests_per_minute=2)

    async def scenario(meter: Meter) -> None:
        await meter.admit(ask(key=key, tenant=tenant, tokens=50))
        await meter.admit(ask(key=key, tenant=tenant, tokens=50))
        error = await refused(meter, ask(key=key, tenant=tenant, tokens=1))
        assert (error.scope, error.limit_name, error.retry_after_s) == (TENANT, "requests_per_minute", 30.0)
        error = await refused(meter, ask(key=key, tenant=tenant, tokens=60))  # TPM frees later: 36 s
        assert (error.scope, error.limit_name, error.type, error.retry_after_s) == (
            KEY, "tokens_per_minute", "tokens", 36.0
        )
        clock.advance(36)  # had the refusals taken the key's requests, this one would be refused too
        _, state = await meter.admit(ask(key=key, tenant=tenant, tokens=60))
        # The tenant's 2 RPM binds before the key's 3: the headers show the tighter bucket.
        assert (state.limit_requests, state.remaining_requests, state.remaining_tokens) == (2, 0, 0)

    run(lambda: make_meter(clock=clock), scenario)


def test_tpm_counts_the_estimate_then_the_real_usage(make_meter: MeterFactory) -> None:
    clock = FakeClock()
    limits = Limits(tokens_per_minute=1000)

    async def scenario(meter: Meter) -> None:
        first, state = await meter.admit(ask(key=limits, tokens=600))
        assert (state.limit_tokens, state.remaining_tokens, state.reset_tokens_s) == (1000, 400, 36.0)
        assert (await refused(meter, ask(key=limits, tokens=500))).retry_after_s == 6.0
        await meter.settle(first, cost_nano=0, tokens=200, output_tokens=0)
        second, state = await meter.admit(ask(key=limits, tokens=500))
        assert state.remaining_tokens == 300
        await meter.settle(second, cost_nano=0, tokens=800, output_tokens=0)  # more than estimated
        assert (await refused(meter, ask(key=limits, tokens=1))).retry_after_s == 0.06

    run(lambda: make_meter(clock=clock), scenario)


def test_a_request_larger_than_a_limit_is_never_admitted(make_meter: MeterFactory) -> None:
    async def scenario(meter: Meter) -> None:
        error = await refused(meter, ask(key=Limits(tokens_per_minute=1000), tokens=1001))
        assert error.retry_after_s is None and "too large" in error.message

    run(lambda: make_meter(clock=FakeClock()), scenario)


def test_output_tokens_per_hour_count_held_then_settled_output(make_meter: MeterFactory) -> None:
    clock = FakeClock()
    limits = Limits(output_tokens_per_hour=1000)

    async def scenario(meter: Meter) -> None:
        first, _ = await meter.admit(ask(key=limits, tokens=900, output=800))
        error = await refused(meter, ask(key=limits, tokens=900, output=800))
        assert (error.limit_name, error.retry_after_s) == ("output_tokens_per_hour", 2160.0)
        assert "36m0s" in error.message
        await meter.settle(first, cost_nano=0, tokens=300, output_tokens=100)
        await meter.admit(ask(key=limits, tokens=900, output=800))

    run(lambda: make_meter(clock=clock), scenario)


def test_output_tokens_per_day_outlast_the_hour(make_meter: MeterFactory) -> None:
    clock = FakeClock()
    limits = Limits(output_tokens_per_hour=10_000, output_tokens_per_day=1000)

    async def scenario(meter: Meter) -> None:
        first, _ = await meter.admit(ask(key=limits, output=600))
        await meter.settle(first, cost_nano=0, tokens=600, output_tokens=600)
        error = await refused(meter, ask(key=limits, output=600))
        assert (error.limit_name, error.retry_after_s) == ("output_tokens_per_day", 17280.0)
        clock.advance(3600)
        assert (await refused(meter, ask(key=limits, output=600))).retry_after_s == 13680.0

    run(lambda: make_meter(clock=clock), scenario)


@pytest.mark.parametrize(
    ("kind", "name"),
    [
        ("key_budget", "key budget"),
        ("tenant_cap", "tenant monthly cap"),
        ("prepaid_credit", "prepaid credit"),
    ],
)
def test_a_budget_refusal_names_the_budget_and_changes_no_counter(
    make_meter: MeterFactory, kind: BudgetKind, name: str
) -> None:
    def budget(of: BudgetKind, scope: str, period: str) -> Budget:
        return Budget(scope, of, 1000 if of == kind else 10**12, period)

    budgets = (budget("key_budget", KEY, "2026-11"), budget("tenant_cap", TENANT, "2026-11"),
               budget("prepaid_credit", TENANT, "all"))
    limits = Limits(requests_per_minute=2, tokens_per_minute=100)

    async def scenario(meter: Meter) -> None:
        await meter.admit(ask(key=limits, budgets=budgets, tokens=50, nano=600))
        with pytest.raises(QuotaExceeded) as caught:
            await meter.admit(ask(key=limits, budgets=budgets, tokens=50, nano=401))
        error = caught.value
        assert error.status_code == 429 and error.type == error.code == "insufficient_quota"
        assert error.budget.kind == kind and f"exceeded your {name}" in error.message
        assert [await meter.usage(b) for b in budgets] == [BudgetUsage(0, 600)] * 3
        # The refusal took neither a request nor tokens: exactly one more of each still fits.
        await meter.admit(ask(key=limits, budgets=budgets, tokens=50, nano=400))

    run(lambda: make_meter(clock=FakeClock()), scenario)


def test_settle_moves_reserved_to_spent_exactly(make_meter: MeterFactory) -> None:
    budget = Budget(TENANT, "prepaid_credit", MAX_NANO, "all")

    async def scenario(meter: Meter) -> None:
        reservation, _ = await meter.admit(ask(budgets=(budget,), nano=MAX_NANO - 9))
        assert await meter.usage(budget) == BudgetUsage(0, MAX_NANO - 9)
        await meter.settle(reservation, cost_nano=MAX_NANO - 10, tokens=5, output_tokens=2)
        assert await meter.usage(budget) == BudgetUsage(MAX_NANO - 10, 0)
        with pytest.raises(QuotaExceeded):  # exact to the nano-euro at 2**53: 10 remain, not 11
            await meter.admit(ask(budgets=(budget,), nano=11))
        await meter.admit(ask(budgets=(budget,), nano=10))

    run(lambda: make_meter(clock=FakeClock()), scenario)


def test_release_gives_back_budget_and_tokens_but_counts_the_request(make_meter: MeterFactory) -> None:
    limits = Limits(requests_per_minute=2, tokens_per_minute=1000, output_tokens_per_day=500)
    budget = Budget(KEY, "key_budget", 1000, "2026-11")

    async def scenario(meter: Meter) -> None:
        reservation, _ = await meter.admit(
            ask(key=limits, budgets=(budget,), tokens=800, output=500, nano=900)
        )
        await meter.release(reservation)
        assert await meter.usage(budget) == BudgetUsage(0, 0)
        _, state = await meter.admit(ask(key=limits, budgets=(budget,), tokens=1000, output=500, nano=1000))
        assert (state.remaining_requests, state.remaining_tokens) == (0, 0)

    run(lambda: make_meter(clock=FakeClock()), scenario)


def test_seed_spent_sets_the_counter_once(make_meter: MeterFactory) -> None:
    budget = Budget(KEY, "key_budget", 1000, "2026-11")

    async def scenario(meter: Meter) -> None:
        await meter.admit(ask(budgets=(budget,), nano=0))  # an admission before seeding does not block it
        await meter.seed_spent(budget, 900)
        await meter.seed_spent(budget, 0)  # a second replica starting later changes nothing
        assert await meter.usage(budget) == BudgetUsage(900, 0)
        with pytest.raises(QuotaExceeded):
            await meter.admit(ask(budgets=(budget,), nano=101))
        reservation, _ = await meter.admit(ask(budgets=(budget,), nano=100))
        await meter.settle(reservation, cost_nano=50, tokens=0, output_tokens=0)
        await meter.seed_spent(budget, 0)
        assert await meter.usage(budget) == BudgetUsage(950, 0)

    run(lambda: make_meter(clock=FakeClock()), scenario)


def test_a_new_month_starts_from_zero(make_meter: MeterFactory) -> None:
    clock = FakeClock(datetime(2026, 11, 30, 23, 59, 30, tzinfo=UTC))
    november, december = (Budget(KEY, "key_budget", 1000, period) for period in ("2026-11", "2026-12"))

    async def scenario(meter: Meter) -> None:
        reservation, _ = await meter.admit(ask(budgets=(november,), nano=1000))
        await meter.settle(reservation, cost_nano=1000, tokens=0, output_tokens=0)
        with pytest.raises(QuotaExceeded):
            await meter.admit(ask(budgets=(november,), nano=1))
        clock.advance(60)
        await meter.admit(ask(budgets=(december,), nano=1000))
        assert await meter.usage(november) == BudgetUsage(1000, 0)

    run(lambda: make_meter(clock=clock), scenario)


def test_an_unsettled_reservation_expires_and_is_billed_once_if_settled_late(
    make_meter: MeterFactory,
) -> None:
    clock = FakeClock()
    budget = Budget(TENANT, "tenant_cap", 1000, "2026-11")

    async def scenario(meter: Meter) -> None:
        crashed, _ = await meter.admit(ask(budgets=(budget,), nano=800))
        with pytest.raises(QuotaExceeded):
            await meter.admit(ask(budgets=(budget,), nano=800))
        clock.advance(60)
        await meter.admit(ask(budgets=(budget,), nano=800))  # the crashed holder's 800 came back
        assert await meter.usage(budget) == BudgetUsage(0, 800)
        await meter.settle(crashed, cost_nano=700, tokens=0, output_tokens=0)
        assert await meter.usage(budget) == BudgetUsage(700, 800)

    run(lambda: make_meter(clock=clock, reservation_ttl_s=60), scenario)


def test_headers_follow_the_tenant_when_the_key_has_no_limit(make_meter: MeterFactory) -> None:
    async def scenario(meter: Meter) -> None:
        _, state = await meter.admit(ask(key=Limits(), tenant=Limits(requests_per_minute=1)))
        assert (state.limit_requests, state.remaining_requests) == (1, 0)
        assert state.limit_tokens is None and state.reset_tokens_s is None  # no TPM anywhere

    run(lambda: make_meter(clock=FakeClock()), scenario)


def test_values_are_checked() -> None:
    with pytest.raises(ValueError, match="period"):
        Budget(KEY, "key_budget", 1, "November")
    with pytest.raises(ValueError, match="limit_nano"):
        Budget(KEY, "key_budget", MAX_NANO + 1, "2026-11")
    with pytest.raises(ValueError, match="positive"):
        Limits(requests_per_minute=0)
    with pytest.raises(ValueError, match="negative"):
        Admission("r", [], [], -1, 0)


def test_exported_names() -> None:
    assert all(hasattr(llmaas.metering, name) for name in llmaas.metering.__all__)


def test_redis_keys_hold_ids_only_and_expire(redis_url: str, redis_prefix: str) -> None:
    clock = FakeClock()
    month = Budget(KEY, "key_budget", 10**9, "2026-11")
    credit = Budget(TENANT, "prepaid_credit", 10**9, "all")
    rate_key = f"{redis_prefix}rate:{KEY}:requests_per_minute"
    budget_key = f"{redis_prefix}budget:key_budget:{KEY}:2026-11"
    credit_key = f"{redis_prefix}budget:prepaid_credit:{TENANT}:all"

    async def scenario(meter: Meter) -> None:
        limits = Limits(requests_per_minute=6)
        reservation, _ = await meter.admit(ask(key=limits, budgets=(month, credit), nano=5))
        async with redis.asyncio.Redis.from_url(url=redis_url, decode_responses=True) as raw:
            assert set(await raw.keys(f"{redis_prefix}*")) == {
                rate_key, budget_key, f"{budget_key}:holds", credit_key, f"{credit_key}:holds"
            }
            assert 0 < await raw.pttl(rate_key) <= 10_000  # gone once the bucket is full again
            month_left = datetime(2026, 12, 1, tzinfo=UTC).timestamp() * 1000 - clock() * 1000
            assert abs(await raw.pttl(budget_key) - (month_left + BUDGET_GRACE_MS)) < 5_000
            await meter.settle(reservation, cost_nano=3, tokens=0, output_tokens=0)
            assert await raw.pttl(credit_key) == -1  # prepaid credit never resets
            assert not await raw.exists(f"{credit_key}:holds")  # an empty hold set leaves no key

    run(lambda: RedisMeter.from_url(redis_url, clock=clock, prefix=redis_prefix), scenario)


def test_redis_uses_the_server_clock_by_default(redis_url: str, redis_prefix: str) -> None:
    async def scenario(meter: Meter) -> None:
        await meter.admit(ask(key=Limits(requests_per_minute=1)))
        wait = (await refused(meter, ask(key=Limits(requests_per_minute=1)))).retry_after_s
        assert wait is not None and 59 < wait <= 60

    run(lambda: RedisMeter.from_url(redis_url, prefix=redis_prefix), scenario)


def test_redis_reloads_its_scripts_after_a_flush(redis_url: str, redis_prefix: str) -> None:
    async def scenario(meter: Meter) -> None:
        reservation, _ = await meter.admit(ask(key=Limits(requests_per_minute=5)))
        async with redis.asyncio.Redis.from_url(url=redis_url) as raw:
            await raw.script_flush()  # as after a Redis restart
        await meter.settle(reservation, cost_nano=1, tokens=1, output_tokens=1)
        await meter.admit(ask(key=Limits(requests_per_minute=5)))

    run(lambda: RedisMeter.from_url(redis_url, prefix=redis_prefix), scenario)


def test_an_unreachable_redis_refuses_at_once_as_retryable() -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there

    async def scenario(meter: Meter) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(MeterUnavailable) as caught:
            await meter.admit(ask(key=Limits(requests_per_minute=5)))
        assert loop.time() - started < 1, "a refused connection is not waited on"
        assert caught.value.status_code == 503 and caught.value.retry_after_s == 1.0

    run(lambda: RedisMeter.from_url(url), scenario)


@pytest.mark.parametrize(("wait_ms", "text"), [(60, "60ms"), (1234, "1.234s"), (61_500, "1m1.5s"),
                                               (13_680_000, "3h48m0s")])
def test_the_wait_in_a_message_is_written_as_the_reset_headers_write_it(wait_ms: int, text: str) -> None:
    charge = Charge(KEY, "requests_per_minute", 1, 1)
    assert f"Please try again in {text}." in RateLimited(charge, wait_ms=wait_ms).message
