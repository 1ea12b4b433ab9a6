"""Recent activity from the ledger's raw events, in buckets of a minute: what the console's live
overview charts (requests, tokens, audio, cost, energy, errors, latency). Summed by the database, so a
poll every few seconds reads one row per minute, however busy the hour was."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, Engine, Integer, case, cast, func, select
from sqlalchemy.orm import Session

from llmaas.storage.tables import UsageEventRow


@dataclass
class Bucket:
    start: int  # Unix seconds
    requests: int = 0
    errors: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_nano: int = 0
    latency_ms_total: float = 0.0
    audio_seconds: float = 0.0
    energy_wh: float = 0.0

    @property
    def latency_ms(self) -> float:
        """Mean latency of the bucket's requests (0 when it had none)."""
        return self.latency_ms_total / self.requests if self.requests else 0.0


def _epoch_seconds(engine: Engine) -> ColumnElement[int]:
    """The event's time as Unix seconds, in the database's own words (both store UTC)."""
    moment = UsageEventRow.created_at
    if engine.dialect.name == "sqlite":
        return cast(func.strftime("%s", moment), Integer)
    return cast(func.floor(func.extract("epoch", moment)), Integer)


def activity(engine: Engine, *, minutes: int = 60, tenant_id: int | None = None,
             now: datetime | None = None, bucket_s: int = 60) -> list[Bucket]:
    """One bucket per `bucket_s` over the last `minutes`, oldest first, empty ones included (a chart
    shows quiet minutes as zero). A status of 400 or more counts as an error."""
    end = now or datetime.now(UTC)
    first = int((end - timedelta(minutes=minutes)).timestamp()) // bucket_s * bucket_s
    buckets = [Bucket(start) for start in range(first, int(end.timestamp()) + 1, bucket_s)]
    e = UsageEventRow
    index = (_epoch_seconds(engine) - first) / bucket_s
    if engine.dialect.name != "sqlite":
        index = func.floor(index)  # PostgreSQL divides integers exactly; SQLite already truncates
    index = cast(index, Integer)
    query = (
        select(index, func.count(), func.sum(case((e.status >= 400, 1), else_=0)), func.sum(e.input_tokens),
               func.sum(e.output_tokens), func.sum(e.cost_nano), func.sum(e.latency_ms),
               func.sum(e.audio_seconds), func.sum(e.energy_wh))
        .where(e.created_at >= datetime.fromtimestamp(first, UTC), e.created_at <= end)
        .group_by(index)
    )
    if tenant_id is not None:
        query = query.where(e.tenant_id == tenant_id)
    with Session(engine) as session:
        for row in session.execute(query):
            position, requests, errors, input_tokens, output_tokens, cost_nano, latency, audio, energy = row
            if 0 <= position < len(buckets):
                bucket = buckets[position]
                bucket.requests, bucket.errors = int(requests), int(errors or 0)
                bucket.input_tokens, bucket.output_tokens = int(input_tokens or 0), int(output_tokens or 0)
                bucket.cost_nano, bucket.latency_ms_total = int(cost_nano or 0), float(latency or 0)
                bucket.audio_seconds, bucket.energy_wh = float(audio or 0), float(energy or 0)
    return buckets
