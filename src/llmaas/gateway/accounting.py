"""Admission and settlement around every request: limits, budget reservations, the ledger.

    ticket = await accounting.admit(caller, entry, endpoint, input_tokens=..., output_tokens=...)
    ... forward ...
    await accounting.settle(ticket, Usage(...))      # or: await accounting.release(ticket)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from llmaas.auth import ApiKey
from llmaas.catalog import ModelEntry
from llmaas.errors import PermissionDenied
from llmaas.guardrails import Verdict
from llmaas.metering import (
    Admission,
    Budget,
    BudgetUnseeded,
    Limits,
    LimitState,
    Meter,
    MeterUnavailable,
    Reservation,
)
from llmaas.metering.ledger import Ledger, UsageRecord, spent_nano
from llmaas.metering.pricing import Usage, billed_minutes, cost_nano, energy_wh
from llmaas.metering.reports import month_start

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Caller:
    key: ApiKey
    request_id: str


@dataclass
class Ticket:
    """One admitted request: what was reserved, and what settles it."""

    caller: Caller
    entry: ModelEntry
    model_requested: str
    endpoint: str
    reservation: Reservation
    limits: LimitState
    started: float = field(default_factory=time.perf_counter)
    done: bool = False
    guardrail: Verdict | None = None  # flagged: the ledger row says so


class Accounting:
    def __init__(self, *, meter: Meter, ledger: Ledger, database: Engine) -> None:
        self.meter = meter
        self.ledger = ledger
        self._database = database
        # One ledger query per budget and replica: concurrent first requests await the same one.
        self._seeds: dict[tuple[str, str, str], asyncio.Future[None]] = {}

    async def admit(
        self, caller: Caller, entry: ModelEntry, endpoint: str, *, model_requested: str,
        input_tokens: int = 0, output_tokens: int = 0, audio_seconds: float = 0.0, documents: int = 0,
    ) -> Ticket:
        """Reserve the worst case: `input_tokens` and `output_tokens` are upper bounds."""
        key = caller.key
        if not key.may_use(model_requested) and not key.may_use(entry.id):
            raise PermissionDenied(
                f"This key may not use the model `{model_requested}`.", param="model"
            )
        worst = Usage(input_tokens, output_tokens, audio_seconds, documents)
        budgets = self._budgets(key)
        await self._seed(key, budgets)
        admission = Admission(
            request_id=caller.request_id,
            limit_scopes=[
                (f"key:{key.id}", Limits(key.limits.requests_per_minute, key.limits.tokens_per_minute)),
                (f"tenant:{key.tenant_id}", Limits(
                    key.tier.requests_per_minute, key.tier.tokens_per_minute,
                    key.tier.output_tokens_per_hour, key.tier.output_tokens_per_day)),
            ],
            budgets=budgets,
            estimated_tokens=worst.tokens,
            max_output_tokens=output_tokens,
            reserved_nano=cost_nano(entry, worst),
        )
        try:
            reservation, limits = await self.meter.admit(admission)
        except BudgetUnseeded as unseeded:
            # Redis lost the counter (a restart without persistence, an eviction): start it again
            # from the ledger rather than from zero, then admit once more.
            await self._seed(key, [unseeded.budget], again=True)
            reservation, limits = await self.meter.admit(admission)
        return Ticket(caller, entry, model_requested, endpoint, reservation, limits)

    async def settle(self, ticket: Ticket, usage: Usage, *, status: int = 200) -> None:
        if ticket.done:
            return
        ticket.done = True
        cost = cost_nano(ticket.entry, usage)
        try:
            await self.meter.settle(ticket.reservation, cost_nano=cost, tokens=usage.tokens,
                                    output_tokens=usage.output_tokens)
        except MeterUnavailable:
            # The ledger below stays the record of truth; the held amount returns at its expiry.
            log.warning("could not settle reservation %s in the meter", ticket.reservation.id)
        key = ticket.caller.key
        self.ledger.record(UsageRecord(
            created_at=datetime.now(UTC), request_id=ticket.caller.request_id, tenant_id=key.tenant_id,
            key_id=key.id, endpoint=ticket.endpoint, model_requested=ticket.model_requested,
            model_served=ticket.entry.id, status=status, input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens, audio_seconds=usage.audio_seconds,
            billed_minutes=billed_minutes(usage.audio_seconds), documents=usage.documents,
            cost_nano=cost, energy_wh=energy_wh(ticket.entry, usage),
            latency_ms=(time.perf_counter() - ticket.started) * 1000,
            guardrail=None if ticket.guardrail is None else ticket.guardrail.value,
        ))

    def record_blocked(self, caller: Caller, entry: ModelEntry, endpoint: str, *, model_requested: str,
                       started: float) -> None:
        """A request the guardrail refused: a ledger row that says so, and nothing charged."""
        key = caller.key
        self.ledger.record(UsageRecord(
            created_at=datetime.now(UTC), request_id=caller.request_id, tenant_id=key.tenant_id,
            key_id=key.id, endpoint=endpoint, model_requested=model_requested, model_served=entry.id,
            status=400, latency_ms=(time.perf_counter() - started) * 1000, guardrail=Verdict.BLOCKED.value,
        ))

    async def release(self, ticket: Ticket) -> None:
        if not ticket.done:
            ticket.done = True
            with contextlib.suppress(MeterUnavailable):  # the hold returns at its expiry
                await self.meter.release(ticket.reservation)

    @staticmethod
    def _budgets(key: ApiKey) -> list[Budget]:
        period = month_start().strftime("%Y-%m")
        tenant = f"tenant:{key.tenant_id}"
        budgets = []
        if key.limits.monthly_budget_nano is not None:
            budgets.append(Budget(f"key:{key.id}", "key_budget", key.limits.monthly_budget_nano, period))
        if key.tier.monthly_cap_nano is not None:
            budgets.append(Budget(tenant, "tenant_cap", key.tier.monthly_cap_nano, period))
        if key.prepaid_credit_nano is not None:
            budgets.append(Budget(tenant, "prepaid_credit", key.prepaid_credit_nano, "all"))
        return budgets

    async def _seed(self, key: ApiKey, budgets: list[Budget], *, again: bool = False) -> None:
        """The first time this replica meets a budget, start it from what the ledger says was spent;
        `again` seeds a budget once more (its counter was lost), unless a seed is under way."""
        for budget in budgets:
            identity = (budget.scope, budget.kind, budget.period)
            seeding = self._seeds.get(identity)
            if seeding is None or (again and seeding.done()):
                seeding = self._seeds[identity] = asyncio.ensure_future(self._seed_one(key, budget))
            # Shielded: a client leaving must not cancel the seed other requests are waiting for.
            await asyncio.shield(seeding)

    async def _seed_one(self, key: ApiKey, budget: Budget) -> None:
        identity = (budget.scope, budget.kind, budget.period)
        try:
            since = None if budget.period == "all" else month_start()
            if budget.kind == "key_budget":
                spent = await run_in_threadpool(spent_nano, self._database, since=since, key_id=key.id)
            else:
                spent = await run_in_threadpool(
                    spent_nano, self._database, since=since, tenant_id=key.tenant_id)
            await self.meter.seed_spent(budget, spent)
        except BaseException:
            self._seeds.pop(identity, None)  # the next request tries again
            raise
