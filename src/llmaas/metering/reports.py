"""Usage reports: ledger rows grouped by day, model or key, for the admin API, /v1/usage and the CLI."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import Engine

from llmaas.metering.ledger import SUMMED, UsageCounts, usage_rows
from llmaas.tenancy.money import to_eur

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


CSV_COLUMNS = ("requests", "input_tokens", "output_tokens", "audio_seconds", "billed_minutes", "documents",
               "cost_eur", "energy_wh", "guardrail_flagged", "guardrail_blocked")


def as_csv(groups: Iterable[UsageTotals], group_by: GroupBy) -> str:
    """A report as the CSV the admin API and the console export: one row a group, costs in euros."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([group_by, *CSV_COLUMNS])
    for g in groups:
        writer.writerow([g.group, g.requests, g.input_tokens, g.output_tokens, g.audio_seconds,
                         g.billed_minutes, g.documents, to_eur(g.cost_nano), g.energy_wh,
                         g.guardrail_flagged, g.guardrail_blocked])
    return buffer.getvalue()
