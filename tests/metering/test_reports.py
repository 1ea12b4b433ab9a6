"""Usage reports: one group's totals, in the order the reports print them."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlalchemy import Engine

from llmaas.metering.ledger import COUNTS, VERDICTS, Ledger, UsageRecord
from llmaas.metering.reports import UsageTotals, report

DAY = datetime(2026, 11, 5, 12, tzinfo=UTC)


def test_totals_list_group_and_requests_then_the_counts() -> None:
    assert list(vars(UsageTotals("m"))) == ["group", "requests", *COUNTS, *VERDICTS]


def test_totals_sum_every_counter_per_group(database: Engine) -> None:
    ledger = Ledger(database)
    for index, model in enumerate(["a", "b", "a"]):
        ledger.record(UsageRecord(
            created_at=DAY, request_id=f"r{index}", tenant_id=1, key_id=1, endpoint="/v1/rerank",
            model_requested=model, model_served=model, status=200, input_tokens=1, output_tokens=2,
            audio_seconds=1.5, billed_minutes=1, documents=3, cost_nano=100, energy_wh=0.25))
    asyncio.run(ledger.flush())
    totals = report(database, group_by="model")
    assert totals == [
        UsageTotals("a", 2, input_tokens=2, output_tokens=4, audio_seconds=3.0, billed_minutes=2, documents=6,
                    cost_nano=200, energy_wh=0.5),
        UsageTotals("b", 1, input_tokens=1, output_tokens=2, audio_seconds=1.5, billed_minutes=1, documents=3,
                    cost_nano=100, energy_wh=0.25),
    ]
