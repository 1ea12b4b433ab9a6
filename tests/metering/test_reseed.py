"""A budget survives Redis losing its data: the gateway starts it again from the ledger."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis
from sqlalchemy import Engine

from llmaas.auth import KeyLimits, KeyService
from llmaas.catalog import ModelEntry, Pricing, Upstream
from llmaas.gateway.accounting import Accounting, Caller
from llmaas.metering import QuotaExceeded, RedisMeter
from llmaas.metering.ledger import Ledger
from llmaas.metering.pricing import Usage

MODEL = ModelEntry(id="m", family="f", owned_by="o", capabilities=["chat"], context_length=100,
                   license="MIT", upstreams=[Upstream(url="http://x/v1")],
                   pricing=Pricing(output_per_million_tokens=1_000_000))  # 1 EUR per output token


def test_a_budget_is_reseeded_after_redis_loses_it(
    database: Engine, redis_url: str, redis_prefix: str
) -> None:
    key = KeyService(database).create(name="k", limits=KeyLimits(monthly_budget_nano=3_000_000_000)).key

    async def scenario() -> None:
        meter = RedisMeter.from_url(redis_url, prefix=redis_prefix, require_seeded=True)
        ledger = Ledger(database)
        accounting = Accounting(meter=meter, ledger=ledger, database=database)
        caller = Caller(key=key, request_id="r")
        for _ in range(2):  # 2 of the 3 euros
            ticket = await accounting.admit(caller, MODEL, "/v1/chat/completions", model_requested="m",
                                            output_tokens=1)
            await accounting.settle(ticket, Usage(output_tokens=1))
        await ledger.flush()
        client = Redis.from_url(redis_url)
        for name in await client.keys(f"{redis_prefix}*"):
            await client.delete(name)  # what a restart without persistence does
        await client.aclose()
        ticket = await accounting.admit(caller, MODEL, "/v1/chat/completions", model_requested="m",
                                        output_tokens=1)
        await accounting.settle(ticket, Usage(output_tokens=1))
        with pytest.raises(QuotaExceeded):  # had Redis's loss reset the budget, this would pass
            await accounting.admit(caller, MODEL, "/v1/chat/completions", model_requested="m",
                                   output_tokens=1)
        await meter.close()
        await ledger.close()

    asyncio.run(scenario())
