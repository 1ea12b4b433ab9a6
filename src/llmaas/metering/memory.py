"""The in-process meter: limits and budgets for a single gateway process (no Redis configured).

Atomicity comes from the event loop: `admit`, `settle` and `release` contain no `await`, so no other
request runs between a check and its reservation. State is plain dicts, pruned once a minute of
clock time: a full bucket and a month past its grace carry no information.
"""

from __future__ import annotations

import itertools
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from llmaas.metering.meter import (
    Admission,
    Budget,
    BudgetUsage,
    Charge,
    LimitState,
    QuotaExceeded,
    Reservation,
    charges,
    first_failure,
    gcra,
    limit_state,
    period_end_ms,
    refunded,
    refunds,
)

_PRUNE_EVERY_MS = 60_000
_MIN_KEEP_MS = 3_600_000  # as redis.py: counters written now live at least an hour


@dataclass
class _BudgetState:
    spent: int | None = None  # None: never written, so seed_spent may set it
    reserved: int = 0
    holds: OrderedDict[str, tuple[int, float]] = field(default_factory=OrderedDict)  # id → (nano, expiry)
    expires_ms: float | None = None  # None: never (prepaid credit)

    def touch(self, budget: Budget, now_ms: float) -> None:
        end = period_end_ms(budget.period)
        self.expires_ms = None if end is None else max(end, now_ms + _MIN_KEEP_MS)

    def sweep(self, now_ms: float) -> None:
        """Give back reservations whose holder never settled them; the TTL is the same for all, so
        insertion order is expiry order."""
        while self.holds:
            reservation_id, (amount, expiry) = next(iter(self.holds.items()))
            if expiry > now_ms:
                return
            del self.holds[reservation_id]
            self.reserved -= amount


class MemoryMeter:
    """`Meter` in this process. `clock` returns seconds (time.time by default; tests inject one)."""

    def __init__(self, *, clock: Callable[[], float] = time.time, reservation_ttl_s: float = 3600.0) -> None:
        self._clock = clock
        self._ids = itertools.count(1)
        self._ttl_ms = reservation_ttl_s * 1000
        self._tats: dict[tuple[str, str], float] = {}
        self._budgets: dict[tuple[str, str, str], _BudgetState] = {}
        self._pruned_at = 0.0

    async def admit(self, admission: Admission) -> tuple[Reservation, LimitState]:
        # No await from here to the end: the check and the reservation are one step for the event loop.
        now = self._clock() * 1000
        self._prune(now)
        held = charges(admission)
        outcomes = [gcra(self._tats.get((c.scope, c.limit_name)), now, c) for c in held]
        refusal = first_failure([(c, wait) for c, (_, wait) in zip(held, outcomes, strict=True)])
        if refusal is not None:
            raise refusal
        states = [self._budget(budget, now) for budget in admission.budgets]
        for budget, state in zip(admission.budgets, states, strict=True):
            state.sweep(now)
            if budget.limit_nano - (state.spent or 0) - state.reserved < admission.reserved_nano:
                raise QuotaExceeded(budget)
        reservation = Reservation(
            id=str(next(self._ids)),  # unique within this process, all an in-process meter needs
            request_id=admission.request_id,
            charges=held,
            budgets=tuple(admission.budgets),
            reserved_nano=admission.reserved_nano,
        )
        for charge, (tat, _) in zip(held, outcomes, strict=True):
            self._tats[(charge.scope, charge.limit_name)] = tat
        for budget, state in zip(admission.budgets, states, strict=True):
            if admission.reserved_nano:
                state.reserved += admission.reserved_nano
                state.holds[reservation.id] = (admission.reserved_nano, now + self._ttl_ms)
            state.touch(budget, now)
        tats = [(charge, tat) for charge, (tat, _) in zip(held, outcomes, strict=True)]
        return reservation, limit_state(admission, tats, now)

    async def settle(
        self, reservation: Reservation, *, cost_nano: int, tokens: int, output_tokens: int
    ) -> None:
        if cost_nano < 0:
            raise ValueError("cost_nano cannot be negative")
        now = self._clock() * 1000
        for charge, refund in refunds(reservation, tokens=tokens, output_tokens=output_tokens):
            self._refund(charge, refund, now)
        for budget in reservation.budgets:
            state = self._budget(budget, now)
            held = state.holds.pop(reservation.id, None)
            if held is not None:  # None: it expired and was given back already
                state.reserved -= held[0]
            if cost_nano or state.spent is not None:
                state.spent = (state.spent or 0) + cost_nano
            state.touch(budget, now)

    async def release(self, reservation: Reservation) -> None:
        await self.settle(reservation, cost_nano=0, tokens=0, output_tokens=0)

    async def seed_spent(self, budget: Budget, spent_nano: int) -> None:
        if spent_nano < 0:
            raise ValueError("spent_nano cannot be negative")
        state = self._budget(budget, self._clock() * 1000)
        if state.spent is None:
            state.spent = spent_nano

    async def usage(self, budget: Budget) -> BudgetUsage:
        state = self._budgets.get((budget.kind, budget.scope, budget.period))
        return BudgetUsage(0, 0) if state is None else BudgetUsage(state.spent or 0, state.reserved)

    async def close(self) -> None:
        self._tats.clear()
        self._budgets.clear()

    def _budget(self, budget: Budget, now: float) -> _BudgetState:
        key = (budget.kind, budget.scope, budget.period)
        state = self._budgets.get(key)
        if state is None:
            state = self._budgets[key] = _BudgetState()
            state.touch(budget, now)  # so that a state created by a refusal is pruned in time too
        return state

    def _refund(self, charge: Charge, refund: int, now: float) -> None:
        key = (charge.scope, charge.limit_name)
        tat = refunded(self._tats.get(key), now, charge, refund)
        if tat is None:
            self._tats.pop(key, None)
        else:
            self._tats[key] = tat

    def _prune(self, now: float) -> None:
        if now - self._pruned_at < _PRUNE_EVERY_MS:
            return
        self._pruned_at = now
        self._tats = {key: tat for key, tat in self._tats.items() if tat > now}
        self._budgets = {
            key: state
            for key, state in self._budgets.items()
            if state.expires_ms is None or state.expires_ms > now
        }
