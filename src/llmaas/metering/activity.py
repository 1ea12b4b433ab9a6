"""Recent activity from the ledger's raw events, in buckets of a minute: what the console's live
overview charts (requests, tokens, cost, errors, latency)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, select
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

    @property
    def latency_ms(self) -> float:
        """Mean latency of the bucket's requests (0 when it had none)."""
        return self.latency_ms_total / self.requests if self.requests else 0.0


def activity(engine: Engine, *, minutes: int = 60, tenant_id: int | None = None,
             now: datetime | None = None, bucket_s: int = 60) -> list[Bucket]:
    """One bucket per `bucket_s` over the last `minutes`, oldest first, empty ones included (a chart
    shows quiet minutes as zero). A status of 400 or more counts as an error."""
    end = now or datetime.now(UTC)
    first = int((end - timedelta(minutes=minutes)).timestamp()) // bucket_s * bucket_s
    buckets = [Bucket(start) for start in range(first, int(end.timestamp()) + 1, bucket_s)]
    e = UsageEventRow
    query = select(e.created_at, e.status, e.input_tokens, e.output_tokens, e.cost_nano, e.latency_ms).where(
        e.created_at >= datetime.fromtimestamp(first, UTC))
    if tenant_id is not None:
        query = query.where(e.tenant_id == tenant_id)
    with Session(engine) as session:
        for created_at, status, input_tokens, output_tokens, cost_nano, latency_ms in session.execute(query):
            moment = created_at.replace(tzinfo=UTC) if created_at.tzinfo is None else created_at
            index = (int(moment.timestamp()) - first) // bucket_s
            if not 0 <= index < len(buckets):
                continue
            bucket = buckets[index]
            bucket.requests += 1
            bucket.errors += status >= 400
            bucket.input_tokens += input_tokens
            bucket.output_tokens += output_tokens
            bucket.cost_nano += cost_nano
            bucket.latency_ms_total += latency_ms
    return buckets
