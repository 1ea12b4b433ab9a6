"""Usage reports: ledger rows grouped by day, model or key, for the admin API, /v1/usage and the CLI."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import Engine

from llmaas.metering.ledger import SUMMED, UsageCounts, usage_rows

GroupBy = Literal["day", "model", "key"]


@dataclass(frozen=True)
class _Group:
    group: str
    requests: int = 0


@dataclass(frozen=True)
class UsageTotals(UsageCounts, _Group):
    """One group's sums. Its fields run in the order reports print them (`llmaas usage --json` prints
    vars()): _Group's first, as dataclasses collect the bases' fields from the last base, then the counts,
    then its own: of the requests, how many the guardrail flagged and blocked (ledger.VERDICTS)."""

    guardrail_flagged: int = 0
    guardrail_blocked: int = 0


def report(
    engine: Engine, *, group_by: GroupBy, since: datetime | None = None, until: datetime | None = None,
    tenant_id: int | None = None, key_id: int | None = None, model: str | None = None,
    key_names: dict[int, str] | None = None,
) -> list[UsageTotals]:
    rows = usage_rows(engine, since=since, until=until, tenant_id=tenant_id, key_id=key_id, model=model)
    sums: dict[str, dict[str, Any]] = {}
    for row in rows:
        if group_by == "day":
            name = row.day.isoformat()
        elif group_by == "model":
            name = row.model
        else:
            name = (key_names or {}).get(row.key_id, str(row.key_id))
        if name not in sums:
            sums[name] = {"requests": 0, "guardrail_flagged": 0, "guardrail_blocked": 0,
                          **vars(UsageCounts())}  # zeros, of each counter's type
        total = sums[name]
        for field in SUMMED:
            total[field] += getattr(row, field)
    return [UsageTotals(name, **sums[name]) for name in sorted(sums)]


def month_start(now: datetime | None = None) -> datetime:
    now = now or datetime.now(UTC)
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
