"""A non-streamed answer is sent before its settlement: the client does not wait for the meter's round
trip, and the settlement still lands, exactly once, at the real cost."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import httpx

from llmaas.app import create_app
from llmaas.auth import KeyLimits, KeyService
from llmaas.metering import Budget, Reservation
from llmaas.metering.memory import MemoryMeter
from llmaas.settings import Settings
from tests.databases import fresh_database
from tests.fakes import USAGE, FakeEngine
from tests.gateway.conftest import catalog_for
from tests.servers import serve

HI = [{"role": "user", "content": "Hi"}]


class GatedMeter(MemoryMeter):
    """Settles only once the test opens the gate; counts what it settled."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.settled: list[int] = []

    async def settle(self, reservation: Reservation, *, cost_nano: int, tokens: int,
                     output_tokens: int) -> None:
        while not self.gate.is_set():
            await asyncio.sleep(0.01)
        await super().settle(reservation, cost_nano=cost_nano, tokens=tokens, output_tokens=output_tokens)
        self.settled.append(cost_nano)


def test_the_answer_does_not_wait_for_its_settlement(tmp_path: Path) -> None:
    engine = FakeEngine(model="upstream-name")
    database = fresh_database("sqlite", sqlite_dir=tmp_path, postgres_admin_url=None)
    budget_nano = 10**12
    issued = KeyService(database).create(name="t", limits=KeyLimits(monthly_budget_nano=budget_nano))
    meter = GatedMeter()
    with serve(engine.app()) as engine_url:
        app = create_app(Settings(home=tmp_path), catalog=catalog_for(engine_url), database=database,
                         meter=meter)
        with serve(app) as url:
            answer = httpx.post(f"{url}/v1/chat/completions", timeout=30,
                                headers={"Authorization": f"Bearer {issued.secret}"},
                                json={"model": "chat-model", "messages": HI, "max_tokens": 5})
            assert answer.status_code == 200, answer.text
            assert answer.json()["usage"]["total_tokens"] == USAGE["total_tokens"]
            assert meter.settled == [], "answered while the settlement was still waiting"
            meter.gate.set()
            deadline = time.monotonic() + 30
            while not meter.settled and time.monotonic() < deadline:
                time.sleep(0.01)
            # The real cost (chat-model: 1,000 / 2,000 EUR per million input / output tokens), once.
            cost = USAGE["prompt_tokens"] * 1_000_000 + USAGE["completion_tokens"] * 2_000_000
            assert meter.settled == [cost]
            period = time.strftime("%Y-%m", time.gmtime())
            budget = Budget(f"key:{issued.key.id}", "key_budget", budget_nano, period)
            usage = asyncio.run(meter.usage(budget))
            assert (usage.spent_nano, usage.reserved_nano) == (cost, 0)
    database.dispose()
