"""Recent activity by the minute, from the ledger's raw events: what the console's overview charts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from llmaas.metering.activity import activity
from llmaas.storage.tables import UsageEventRow


def _event(at: datetime, *, tenant_id: int = 1, status: int = 200, latency_ms: float = 10.0) -> UsageEventRow:
    return UsageEventRow(created_at=at, request_id="r", tenant_id=tenant_id, key_id=1, endpoint="chat",
                         model_requested="m", model_served="m", status=status, input_tokens=5,
                         output_tokens=2, cost_nano=100, latency_ms=latency_ms, audio_seconds=1.5,
                         energy_wh=0.25)


def test_events_fall_into_their_minute_quiet_minutes_are_zero(database: Engine) -> None:
    now = datetime(2026, 12, 7, 12, 30, 30, tzinfo=UTC)
    with Session(database) as session, session.begin():
        session.add_all([
            _event(now - timedelta(seconds=10)),
            _event(now - timedelta(seconds=20), status=500, latency_ms=30),
            _event(now - timedelta(minutes=5)), _event(now - timedelta(minutes=5), tenant_id=2),
            _event(now - timedelta(hours=2)),  # before the window
        ])
    buckets = activity(database, minutes=10, now=now)
    minute = datetime(2026, 12, 7, 12, 30, tzinfo=UTC)
    assert len(buckets) == 11 and buckets[-1].start == int(minute.timestamp())
    last = buckets[-1]
    assert (last.requests, last.errors, last.input_tokens, last.output_tokens) == (2, 1, 10, 4)
    assert last.cost_nano == 200 and last.audio_seconds == 3.0 and last.energy_wh == 0.5
    assert last.latency_ms == 20.0
    assert buckets[-6].requests == 2 and sum(b.requests for b in buckets) == 4
    assert sum(b.requests for b in activity(database, minutes=10, now=now, tenant_id=2)) == 1
    assert buckets[0].requests == 0 and buckets[0].latency_ms == 0.0
