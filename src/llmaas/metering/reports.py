"""Usage reports: ledger rows grouped by day, model or key, for the admin API, /v1/usage and the CLI."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from sqlalchemy import Engine

from llmaas.metering.ledger import SUMMED, UsageRow, usage_rows

GroupBy = Literal["day", "model", "key"]


@dataclass
class UsageTotals:
    group: str
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    audio_seconds: float = 0.0
    billed_minutes: int = 0
    documents: int = 0
    cost_nano: int = 0
    energy_wh: float = 0.0

    def add(self, row: UsageRow) -> None:
        for name in SUMMED:
            setattr(self, name, getattr(self, name) + getattr(row, name))


def report(
    engine: Engine, *, group_by: GroupBy, since: datetime | None = None, until: datetime | None = None,
    tenant_id: int | None = None, key_id: int | None = None, model: str | None = None,
    key_names: dict[int, str] | None = None,
) -> list[UsageTotals]:
    rows = usage_rows(engine, since=since, until=until, tenant_id=tenant_id, key_id=key_id, model=model)
    groups: dict[str, UsageTotals] = defaultdict(lambda: UsageTotals(""))
    for row in rows:
        if group_by == "day":
            name = row.day.isoformat()
        elif group_by == "model":
            name = row.model
        else:
            name = (key_names or {}).get(row.key_id, str(row.key_id))
        groups[name].group = name
        groups[name].add(row)
    return [groups[name] for name in sorted(groups)]


def month_start(now: datetime | None = None) -> datetime:
    now = now or datetime.now(UTC)
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
