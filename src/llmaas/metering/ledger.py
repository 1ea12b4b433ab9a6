"""The usage ledger: one row per answered request, metadata only, written off the hot path.

`record` appends to memory; a background task writes the batch every `flush_interval_s` (1 s by
default) in one transaction, and `close` writes what is left before shutdown completes. A crash
(kill -9) therefore loses at most the last interval's records. Raw rows roll up into daily
aggregates and are pruned after `retention_days`, so the table stays small.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Engine,
    Float,
    Select,
    and_,
    case,
    cast,
    delete,
    func,
    insert,
    select,
    true,
    update,
)
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from llmaas.storage.tables import UsageDailyRow, UsageEventRow

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class UsageCounts:
    """What a request used, as the ledger sums it: the one list of usage counters, shared by the
    ledger's records and rows, its SQL sums and roll-ups, and the reports' totals."""

    input_tokens: int = 0
    output_tokens: int = 0
    audio_seconds: float = 0.0
    billed_minutes: int = 0
    documents: int = 0
    cost_nano: int = 0
    energy_wh: float = 0.0


COUNTS = tuple(counter.name for counter in fields(UsageCounts))
# How many of a day's requests the guardrail flagged or blocked: counted from the raw rows' `guardrail`
# field, so they survive the roll-up that deletes those rows.
VERDICTS = {"guardrail_flagged": "flagged", "guardrail_blocked": "blocked"}
SUMMED = ("requests", *COUNTS, *VERDICTS)  # what a day's row adds up: its requests, the counts, verdicts


@dataclass(frozen=True)
class UsageRecord(UsageCounts):
    """One answered request; the counts are keyword-only."""

    created_at: datetime
    request_id: str
    tenant_id: int
    key_id: int
    endpoint: str
    model_requested: str
    model_served: str
    status: int
    latency_ms: float = 0.0
    guardrail: str | None = None  # "flagged" or "blocked" (guardrails.Verdict); None: passed or not screened


class Ledger:
    def __init__(self, engine: Engine, *, flush_interval_s: float = 1.0) -> None:
        self._engine = engine
        self._flush_interval_s = flush_interval_s
        self._pending: list[UsageRecord] = []
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    def record(self, record: UsageRecord) -> None:
        """Non-blocking: the record is written within one flush interval."""
        self._pending.append(record)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._flush_interval_s)
            try:
                await self.flush()
            except Exception:  # a database hiccup must not stop metering; the batch is retried
                log.exception("usage ledger flush failed; will retry")

    async def flush(self) -> None:
        async with self._lock:
            batch, self._pending = self._pending, []
            if not batch:
                return
            try:
                await run_in_threadpool(self._write, batch)
            except BaseException:
                self._pending[:0] = batch
                raise

    def _write(self, batch: list[UsageRecord]) -> None:
        # Core, not the ORM: a third of the CPU per row. vars(), not asdict(): the records are flat,
        # and asdict's deep copy showed in profiles.
        with self._engine.begin() as connection:
            connection.execute(insert(UsageEventRow), [dict(vars(record)) for record in batch])

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.flush()


def spent_nano(engine: Engine, *, since: datetime | None, key_id: int | None = None,
               tenant_id: int | None = None) -> int:
    """What a key or tenant spent since a moment: daily roll-ups plus raw events not rolled up."""
    return int(sum(row.cost_nano for row in usage_rows(
        engine, since=since, until=None, tenant_id=tenant_id, key_id=key_id)))


@dataclass(frozen=True)
class UsageRow(UsageCounts):
    """One day of one key's usage of one model on one endpoint; the counts are keyword-only."""

    day: date
    tenant_id: int
    key_id: int
    model: str
    endpoint: str
    requests: int
    guardrail_flagged: int = 0
    guardrail_blocked: int = 0


def _summed(column: Any) -> Any:
    if isinstance(column.type, Float):
        return func.sum(column)
    return cast(func.sum(column), BigInteger)  # PostgreSQL sums BIGINTs as NUMERIC: Python reads Decimal


def _raw_by_day(*conditions: ColumnElement[bool]) -> Select[tuple[Any, ...]]:
    """Raw events summed per day, tenant, key, model and endpoint; `_row` reads its rows."""
    raw = UsageEventRow
    day = func.date(raw.created_at)
    return (
        select(day, raw.tenant_id, raw.key_id, raw.model_served, raw.endpoint, func.count(),
               *(_summed(getattr(raw, name)) for name in COUNTS),
               *(cast(func.sum(case((raw.guardrail == verdict, 1), else_=0)), BigInteger)
                 for verdict in VERDICTS.values()))
        .where(and_(true(), *conditions))
        .group_by(day, raw.tenant_id, raw.key_id, raw.model_served, raw.endpoint)
    )


def _row(summed: Any) -> UsageRow:
    day, tenant_id, key_id, model, endpoint, requests, *counts = summed
    return UsageRow(_as_date(day), tenant_id, key_id, model, endpoint, requests,
                    **dict(zip((*COUNTS, *VERDICTS), counts, strict=True)))


def usage_rows(
    engine: Engine, *, since: datetime | None, until: datetime | None, tenant_id: int | None = None,
    key_id: int | None = None, model: str | None = None,
) -> list[UsageRow]:
    """Per-day usage from raw events and daily roll-ups (roll-ups are whole days: bounds by day)."""
    raw, daily = UsageEventRow, UsageDailyRow
    raw_conditions = [c for c in (
        raw.created_at >= since if since else None, raw.created_at < until if until else None,
        raw.tenant_id == tenant_id if tenant_id is not None else None,
        raw.key_id == key_id if key_id is not None else None,
        raw.model_served == model if model else None,
    ) if c is not None]
    daily_conditions = [c for c in (
        daily.day >= since.date() if since else None, daily.day < until.date() if until else None,
        daily.tenant_id == tenant_id if tenant_id is not None else None,
        daily.key_id == key_id if key_id is not None else None,
        daily.model_served == model if model else None,
    ) if c is not None]
    with Session(engine) as session:
        rows = [_row(r) for r in session.execute(_raw_by_day(*raw_conditions))]
        rows += [
            UsageRow(d.day, d.tenant_id, d.key_id, d.model_served, d.endpoint,
                     **{name: getattr(d, name) for name in SUMMED})
            for d in session.scalars(select(daily).where(and_(true(), *daily_conditions)))
        ]
    return rows


def roll_up(engine: Engine, *, retention_days: int, now: datetime | None = None) -> int:
    """Fold raw events older than the retention into daily rows; returns how many were folded.

    Runs in one transaction, so a crash leaves either the raw rows or their roll-up, never both.
    """
    cutoff = (now or datetime.now(UTC)).replace(hour=0, minute=0, second=0, microsecond=0)
    cutoff -= timedelta(days=retention_days)
    folded = 0
    with Session(engine) as session, session.begin():
        for r in session.execute(_raw_by_day(UsageEventRow.created_at < cutoff)).all():
            row = _row(r)
            folded += row.requests
            daily = UsageDailyRow
            existing = session.scalar(select(daily.id).where(
                daily.day == row.day, daily.tenant_id == row.tenant_id, daily.key_id == row.key_id,
                daily.model_served == row.model, daily.endpoint == row.endpoint))
            if existing is None:
                session.add(daily(day=row.day, tenant_id=row.tenant_id, key_id=row.key_id,
                                  model_served=row.model, endpoint=row.endpoint,
                                  **{name: getattr(row, name) for name in SUMMED}))
            else:
                session.execute(update(daily).where(daily.id == existing).values(
                    {name: getattr(daily, name) + getattr(row, name) for name in SUMMED}))
        session.execute(delete(UsageEventRow).where(UsageEventRow.created_at < cutoff))
    return folded


def _as_date(value: date | str) -> date:
    # SQLite's date() gives text; PostgreSQL's gives a date.
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
