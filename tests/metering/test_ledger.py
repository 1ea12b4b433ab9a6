from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from llmaas.metering.ledger import COUNTS, SUMMED, Ledger, UsageRecord, roll_up, spent_nano, usage_rows
from llmaas.metering.reports import report
from llmaas.storage.tables import UsageDailyRow, UsageEventRow

NOW = datetime(2026, 11, 27, 12, tzinfo=UTC)


@pytest.fixture
def engine(database: Engine) -> Engine:
    return database


def record(at: datetime, *, key: int = 1, tenant: int = 1, model: str = "m", cost: int = 100,
           tokens: tuple[int, int] = (10, 5), guardrail: str | None = None) -> UsageRecord:
    return UsageRecord(created_at=at, request_id=f"req_{at.timestamp()}_{key}", tenant_id=tenant,
                       key_id=key, endpoint="/v1/chat/completions", model_requested=model,
                       model_served=model, status=400 if guardrail == "blocked" else 200,
                       input_tokens=tokens[0], output_tokens=tokens[1], cost_nano=cost, guardrail=guardrail)


def count(engine: Engine) -> int:
    with Session(engine) as session:
        return int(session.scalar(select(func.count()).select_from(UsageEventRow)) or 0)


def test_records_are_written_in_the_background_and_on_close(engine: Engine) -> None:
    async def scenario() -> None:
        ledger = Ledger(engine, flush_interval_s=0.05)
        ledger.start()
        ledger.record(record(NOW))
        assert count(engine) == 0, "recording does no I/O"
        await asyncio.sleep(0.3)
        assert count(engine) == 1
        ledger.record(record(NOW, key=2))
        await ledger.close()
        assert count(engine) == 2

    asyncio.run(scenario())


def test_a_failed_flush_keeps_the_batch(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    ledger = Ledger(engine)
    ledger.record(record(NOW))

    def broken(batch: object) -> None:
        raise RuntimeError("database away")

    monkeypatch.setattr(ledger, "_write", broken)
    with pytest.raises(RuntimeError):
        asyncio.run(ledger.flush())
    monkeypatch.undo()
    asyncio.run(ledger.flush())
    assert count(engine) == 1


def test_spent_and_filters(engine: Engine) -> None:
    ledger = Ledger(engine)
    for at, key, tenant, cost in [(NOW, 1, 1, 100), (NOW, 2, 1, 50), (NOW, 3, 2, 7),
                                  (NOW - timedelta(days=40), 1, 1, 1000)]:
        ledger.record(record(at, key=key, tenant=tenant, cost=cost))
    asyncio.run(ledger.flush())
    month = datetime(2026, 11, 1, tzinfo=UTC)
    assert spent_nano(engine, since=month, key_id=1) == 100
    assert spent_nano(engine, since=month, tenant_id=1) == 150
    assert spent_nano(engine, since=month, tenant_id=2) == 7
    assert {row.key_id for row in usage_rows(engine, since=month, until=None, tenant_id=1)} == {1, 2}


def test_roll_up_keeps_totals_and_prunes_raw_rows(engine: Engine) -> None:
    ledger = Ledger(engine)
    old, recent = NOW - timedelta(days=10), NOW - timedelta(hours=1)
    for at in (old, old + timedelta(minutes=5), recent):
        ledger.record(record(at, cost=100, tokens=(3, 4)))
    asyncio.run(ledger.flush())
    before = usage_rows(engine, since=None, until=None)
    assert roll_up(engine, retention_days=7, now=NOW) == 2
    assert roll_up(engine, retention_days=7, now=NOW) == 0, "rolling up twice folds nothing twice"
    after = usage_rows(engine, since=None, until=None)
    assert sum(r.cost_nano for r in after) == sum(r.cost_nano for r in before) == 300
    assert sum(r.output_tokens for r in after) == 12 and sum(r.requests for r in after) == 3
    assert count(engine) == 1
    with Session(engine) as session:
        [daily] = session.scalars(select(UsageDailyRow)).all()
    assert (daily.day, daily.requests, daily.cost_nano) == (old.date(), 2, 200)


def test_the_tables_hold_every_counter() -> None:
    assert set(COUNTS) <= set(UsageEventRow.__table__.columns.keys())
    assert set(SUMMED) <= set(UsageDailyRow.__table__.columns.keys())


def test_roll_up_keeps_the_guardrail_verdicts(engine: Engine) -> None:
    """The raw rows' `guardrail` field goes with them; the daily row keeps how many were flagged and
    blocked, and a second roll-up into the same day adds to it."""
    ledger = Ledger(engine)
    old, recent = NOW - timedelta(days=10), NOW - timedelta(hours=1)
    for minute, verdict in enumerate(["flagged", "flagged", "blocked", None]):
        ledger.record(record(old + timedelta(minutes=minute), cost=0 if verdict == "blocked" else 100,
                             guardrail=verdict))
    ledger.record(record(recent, guardrail="flagged"))
    asyncio.run(ledger.flush())

    def verdicts() -> tuple[int, int]:
        rows = usage_rows(engine, since=None, until=None)
        return sum(r.guardrail_flagged for r in rows), sum(r.guardrail_blocked for r in rows)

    assert verdicts() == (3, 1)
    assert roll_up(engine, retention_days=7, now=NOW) == 4
    assert verdicts() == (3, 1), "the roll-up keeps the counts"
    with Session(engine) as session:
        [daily] = session.scalars(select(UsageDailyRow)).all()
    assert (daily.requests, daily.guardrail_flagged, daily.guardrail_blocked) == (4, 2, 1)

    ledger.record(record(old + timedelta(hours=1), key=1, guardrail="blocked"))  # late, same day
    asyncio.run(ledger.flush())
    assert roll_up(engine, retention_days=7, now=NOW) == 1
    with Session(engine) as session:
        [daily] = session.scalars(select(UsageDailyRow)).all()
    assert (daily.requests, daily.guardrail_flagged, daily.guardrail_blocked) == (5, 2, 2)
    [totals] = report(engine, group_by="model")
    assert (totals.requests, totals.guardrail_flagged, totals.guardrail_blocked) == (6, 3, 2)
