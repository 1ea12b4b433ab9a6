"""The report's arithmetic: availability over three windows from minutes that several replicas wrote,
incidents, the 99 % target, speed over the last hour, and the catalog's notices; on SQLite and
PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Engine

from llmaas.catalog import Catalog, ModelEntry
from llmaas.status import MinuteRecorder
from llmaas.status.report import availability_percent, build_report, incidents, meets_target
from llmaas.status.schema import Incident
from tests.status.test_minutes import Clock

NOW = datetime(2026, 12, 1, 12, 0, 30, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def entry(model_id: str, **extra: object) -> ModelEntry:
    return ModelEntry.model_validate({
        "id": model_id, "family": "test", "owned_by": "tests", "capabilities": ["chat"],
        "context_length": 4096, "license": "MIT", "upstreams": [{"url": "http://127.0.0.1:9/v1"}], **extra})


CATALOG = Catalog([
    entry("chat"), entry("embed"), entry("silent"),
    entry("old", deprecated_at="2026-11-01", retires_at="2027-03-01", successor="chat"),
    entry("older", deprecated_at="2026-06-01", retires_at="2026-10-01", successor="chat"),
])


def test_availability_is_the_share_of_measured_minutes_up() -> None:
    assert availability_percent(0, 0) is None
    assert availability_percent(1440, 14) == 99.028
    assert availability_percent(100, 100) == 0.0
    assert meets_target(99.0) is True and meets_target(98.999) is False and meets_target(None) is None


def test_consecutive_down_minutes_make_one_incident_and_the_last_may_be_ongoing() -> None:
    start = NOW.replace(second=0)
    down = [start + 10 * MINUTE, start, start + MINUTE, start + 2 * MINUTE]
    found = incidents("chat", down, newest=start + 10 * MINUTE)
    assert found == [
        Incident(model="chat", started_at=start + 10 * MINUTE, ended_at=None, duration_minutes=1),
        Incident(model="chat", started_at=start, ended_at=start + 3 * MINUTE, duration_minutes=3),
    ]
    assert incidents("chat", down, newest=start + 11 * MINUTE)[0].ended_at == start + 11 * MINUTE
    assert incidents("chat", [], newest=None) == []


def _record(database: Engine) -> None:
    """Eight days of `chat` on replica A, its last three hours also on replica B; 100 minutes of `embed`."""
    clock = Clock(NOW - timedelta(days=8))

    async def scenario() -> None:
        a = MinuteRecorder(database, clock=clock, replica="a")
        b = MinuteRecorder(database, clock=clock, replica="b")
        while clock.now < NOW:
            ago = NOW - clock.now
            chat_up = not (timedelta(days=3) - 30 * MINUTE < ago <= timedelta(days=3)  # A alone: down
                           or timedelta(hours=1) - 5 * MINUTE < ago <= timedelta(hours=1))  # both down
            a_up = chat_up and not (timedelta(hours=2) - 10 * MINUTE < ago <= timedelta(hours=2))
            a.probed({"chat": a_up})
            if ago <= timedelta(hours=3):
                b.probed({"chat": chat_up})  # B up while A is down: half the probes, not down
            if ago <= 100 * MINUTE:
                a.probed({"embed": not (timedelta(minutes=50) - 2 * MINUTE < ago <= timedelta(minutes=50))})
            if ago == timedelta(hours=2):  # outside the last hour: not counted in speed
                a.streamed("chat", first_token_s=9.0, decode_tokens=1000, decode_s=1.0)
            if ago == timedelta(minutes=30):
                for _ in range(3):
                    a.streamed("chat", first_token_s=0.1, decode_tokens=10, decode_s=1 / 3)
                for _ in range(2):
                    b.streamed("chat", first_token_s=0.4, decode_tokens=5, decode_s=0.5)
            clock.advance(minutes=1)
        await a.flush()
        await b.flush()

    asyncio.run(scenario())


def test_the_report_from_two_replicas_minutes(database: Engine) -> None:
    _record(database)
    report = build_report(database, CATALOG, {"chat": True, "embed": False}, now=NOW)
    models = {model.id: model for model in report.models}
    assert list(models) == ["chat", "embed", "silent", "old", "older"]  # the catalog's order, all of it

    chat = models["chat"]
    assert chat.state == "up" and models["embed"].state == "down" and models["silent"].state == "down"
    assert chat.availability.model_dump() == {
        "last_24h": availability_percent(1440, 5), "last_7d": availability_percent(10080, 35),
        "last_30d": availability_percent(8 * 1440, 35), "measured_minutes_30d": 8 * 1440}
    assert chat.meets_target is True
    assert chat.last_hour.streams == 5
    assert chat.last_hour.tokens_per_second == 20.0  # (3 × 10 + 2 × 5) tokens over (1 + 1) s
    p50 = chat.last_hour.time_to_first_token_p50_ms
    assert p50 is not None and 80 < p50 < 125  # three of five streams took 100 ms

    embed = models["embed"]
    assert embed.availability.last_30d == 98.0 and embed.meets_target is False
    assert embed.last_hour.streams == 0 and embed.last_hour.time_to_first_token_p50_ms is None
    silent = models["silent"]
    assert silent.availability.last_24h is None and silent.meets_target is None

    minute = NOW.replace(second=0)
    assert [(i.model, i.started_at, i.duration_minutes) for i in report.incidents] == [
        ("embed", minute - 50 * MINUTE, 2),
        ("chat", minute - 60 * MINUTE, 5),
        ("chat", minute - timedelta(days=3), 30),
    ]
    assert all(incident.ended_at is not None for incident in report.incidents)

    assert [(n.model, n.lifecycle, n.retires_at, n.successor) for n in report.notices] == [
        ("older", "retired", date(2026, 10, 1), "chat"), ("old", "deprecated", date(2027, 3, 1), "chat")]
    assert models["old"].lifecycle == "deprecated"
