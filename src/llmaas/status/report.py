"""The public status report, computed from the per-minute rows every replica writes (minutes.py).

A minute is *measured* when at least one replica probed the model in it, and *down* when fewer than
half of that minute's probes, on all replicas together, found the model ready. Availability over a
window is the share of its measured minutes that were not down: minutes with no gateway running are
left out rather than counted either way. An incident is a run of consecutive down minutes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, case, distinct, func, select

from llmaas.catalog import Catalog, ModelEntry, lifecycle
from llmaas.status.minutes import minute_of, percentile_ms
from llmaas.status.schema import (
    AVAILABILITY_TARGET_PERCENT,
    Availability,
    Incident,
    ModelStatus,
    Notice,
    Speed,
    StatusReport,
)
from llmaas.storage.tables import HealthMinuteRow

WINDOWS = {"last_24h": timedelta(hours=24), "last_7d": timedelta(days=7), "last_30d": timedelta(days=30)}
LONGEST = WINDOWS["last_30d"]
MAX_INCIDENTS_PER_MODEL = 20
MINUTE = timedelta(minutes=1)


@dataclass(frozen=True)
class MinuteFacts:
    """What the rows say about one model: measured minutes per window, the down minutes of the longest
    window (ascending), and the newest measured minute."""

    measured: Mapping[str, int]
    down: list[datetime]
    newest: datetime | None


def availability_percent(measured: int, down: int) -> float | None:
    if measured <= 0:
        return None
    return round(100 * (measured - down) / measured, 3)


def meets_target(percent: float | None) -> bool | None:
    return None if percent is None else percent >= AVAILABILITY_TARGET_PERCENT


def incidents(model: str, down: Iterable[datetime], newest: datetime | None) -> list[Incident]:
    """Consecutive down minutes, merged, newest first; the last is ongoing when its final minute is the
    newest measured one."""
    runs: list[list[datetime]] = []
    for minute in sorted(down):
        if runs and minute - runs[-1][1] == MINUTE:
            runs[-1][1] = minute
        else:
            runs.append([minute, minute])
    return [
        Incident(model=model, started_at=first, duration_minutes=(last - first) // MINUTE + 1,
                 ended_at=None if last == newest else last + MINUTE)
        for first, last in reversed(runs)
    ]


def speed(rows: Iterable[Any]) -> Speed:
    """The last hour's streams from rows with `streams`, `ttft_buckets`, `decode_tokens`, `decode_s`."""
    streams, tokens, seconds, buckets = 0, 0, 0.0, Counter[int]()
    for row in rows:
        streams += row.streams
        tokens += row.decode_tokens
        seconds += row.decode_s
        buckets.update({int(index): count for index, count in row.ttft_buckets.items()})
    p50 = percentile_ms(buckets, 0.5)
    return Speed(streams=streams, time_to_first_token_p50_ms=None if p50 is None else round(p50, 1),
                 tokens_per_second=round(tokens / seconds, 1) if seconds > 0 else None)


def _utc(moment: datetime) -> datetime:
    # SQLite gives back naive datetimes; they were written in UTC.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def minute_facts(database: Engine, *, now: datetime) -> dict[str, MinuteFacts]:
    """Per model, from the rows of the longest window. Three grouped queries; blocking."""
    row = HealthMinuteRow
    current = minute_of(now)
    starts = {name: current - length for name, length in WINDOWS.items()}
    recent = and_(row.minute >= starts["last_30d"], row.probes > 0)
    measured_columns = [func.count(distinct(case((row.minute >= start, row.minute))))
                        for start in starts.values()]
    with database.connect() as connection:
        measured = {
            model: dict(zip(WINDOWS, counts, strict=True))
            for model, *counts in connection.execute(
                select(row.model, *measured_columns).where(recent).group_by(row.model))
        }
        down: dict[str, list[datetime]] = {}
        for model, minute in connection.execute(
            select(row.model, row.minute).where(recent).group_by(row.model, row.minute)
            .having(2 * func.sum(row.probes_up) < func.sum(row.probes)).order_by(row.minute)
        ):
            down.setdefault(model, []).append(_utc(minute))
        newest = {model: _utc(minute) for model, minute in connection.execute(
            select(row.model, func.max(row.minute)).where(recent).group_by(row.model))}
    return {model: MinuteFacts(counts, down.get(model, []), newest.get(model))
            for model, counts in measured.items()}


def last_hour(database: Engine, *, now: datetime) -> dict[str, Speed]:
    row = HealthMinuteRow
    by_model: dict[str, list[Any]] = {}
    with database.connect() as connection:
        for found in connection.execute(
            select(row.model, row.streams, row.ttft_buckets, row.decode_tokens, row.decode_s)
            .where(row.minute >= minute_of(now) - timedelta(hours=1), row.streams > 0)
        ):
            by_model.setdefault(found.model, []).append(found)
    return {model: speed(rows) for model, rows in by_model.items()}


def build_report(database: Engine, catalog: Catalog, readiness: Mapping[str, bool], *,
                 now: datetime) -> StatusReport:
    """The report for every catalog model; `readiness` is this replica's view of them now. Blocking."""
    facts = minute_facts(database, now=now)
    speeds = last_hour(database, now=now)
    today = now.date()
    models, found = [], []
    for entry in catalog:
        fact = facts.get(entry.id, MinuteFacts({}, [], None))
        down = fact.down
        percents = {name: availability_percent(
            fact.measured.get(name, 0), sum(1 for minute in down if minute >= minute_of(now) - length))
            for name, length in WINDOWS.items()}
        models.append(ModelStatus(
            id=entry.id, state="up" if readiness.get(entry.id) else "down",
            lifecycle=lifecycle.status(entry, today),
            availability=Availability(**percents, measured_minutes_30d=fact.measured.get("last_30d", 0)),
            meets_target=meets_target(percents["last_30d"]),
            last_hour=speeds.get(entry.id, Speed(streams=0, time_to_first_token_p50_ms=None,
                                                  tokens_per_second=None)),
        ))
        found += incidents(entry.id, down, fact.newest)[:MAX_INCIDENTS_PER_MODEL]
    found.sort(key=lambda incident: incident.started_at, reverse=True)
    return StatusReport(generated_at=now, models=models, incidents=found, notices=notices(catalog, today))


def notices(catalog: Catalog, today: date) -> list[Notice]:
    """Models with a deprecation or retirement, soonest retirement first (none last)."""
    announced: list[ModelEntry] = [e for e in catalog if e.deprecated_at or e.retires_at]
    announced.sort(key=lambda e: (e.retires_at is None, e.retires_at or e.deprecated_at, e.id))
    return [Notice(model=e.id, lifecycle=lifecycle.status(e, today), deprecated_at=e.deprecated_at,
                   retires_at=e.retires_at, successor=e.successor) for e in announced]
