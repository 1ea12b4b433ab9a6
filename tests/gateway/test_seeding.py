"""A replica starts each budget from the ledger once, however many first requests arrive together."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import Engine, event

from llmaas.auth import KeyLimits, KeyService
from llmaas.catalog import ModelEntry, Upstream
from llmaas.gateway.accounting import Accounting, Caller
from llmaas.metering import MemoryMeter
from llmaas.metering.ledger import Ledger

MODEL = ModelEntry(id="m", family="f", owned_by="o", capabilities=["chat"], context_length=100,
                   license="MIT", upstreams=[Upstream(url="http://x/v1")])


def test_concurrent_first_requests_share_one_ledger_query(database: Engine) -> None:
    key = KeyService(database).create(name="k", limits=KeyLimits(monthly_budget_nano=10**12)).key
    ledger_queries = 0

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        nonlocal ledger_queries
        ledger_queries += "FROM usage_events" in statement

    event.listen(database, "before_cursor_execute", count)

    async def scenario() -> None:
        accounting = Accounting(meter=MemoryMeter(), ledger=Ledger(database), database=database)
        tickets = await asyncio.gather(*(
            accounting.admit(Caller(key=key, request_id=f"r{i}"), MODEL, "/v1/chat/completions",
                             model_requested="m", output_tokens=1)
            for i in range(20)
        ))
        assert len(tickets) == 20

    asyncio.run(scenario())
    event.remove(database, "before_cursor_execute", count)
    assert ledger_queries == 1, "one seed for the key budget, not one per request"
