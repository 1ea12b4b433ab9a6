"""From real health probes to the status report: a fake engine that goes down and comes back, probed
by the router over HTTP, counted per minute, written, and read back as an incident; on SQLite and
PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from datetime import timedelta

import aiohttp
from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from llmaas.catalog import Catalog
from llmaas.routing import Router, UpstreamPool, UpstreamTarget
from llmaas.status import MinuteRecorder
from llmaas.status.report import build_report
from tests.servers import serve
from tests.status.test_minutes import START, Clock
from tests.status.test_report import entry

MINUTE = timedelta(minutes=1)


@dataclass
class Switchable:
    """An engine whose health check answers 200 while `up`, else 503 (as llama.cpp while loading)."""

    up: bool = True

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/v1/models", self.models)])

    async def models(self, request: Request) -> Response:
        if self.up:
            return JSONResponse({"object": "list", "data": [{"id": "chat", "object": "model"}]})
        return JSONResponse({"error": {"message": "Loading model"}}, status_code=503)


def _router(url: str) -> Router:
    return Router({"chat": UpstreamPool("chat", [UpstreamTarget(base_url=f"{url}/v1", model="chat")])})


def test_an_engine_that_goes_down_and_comes_back_is_one_incident(database: Engine) -> None:
    engine = Switchable()
    clock = Clock(START)
    with serve(engine.app()) as url:
        async def scenario() -> None:
            router = _router(url)
            recorder = MinuteRecorder(database, clock=clock)
            async with aiohttp.ClientSession() as session:
                for minute in range(10):
                    engine.up = not 3 <= minute < 7  # down for minutes 3, 4, 5 and 6
                    for _ in range(2):  # two rounds of probes a minute
                        await router.check_health(session)
                        recorder.probed(router.readiness())
                        clock.advance(seconds=30)
                    await recorder.flush()
            await recorder.close()

        asyncio.run(scenario())

    report = build_report(database, Catalog([entry("chat")]), {"chat": True}, now=clock.now)
    first = START.replace(second=0)
    [incident] = report.incidents
    assert (incident.started_at, incident.ended_at, incident.duration_minutes) == (
        first + 3 * MINUTE, first + 7 * MINUTE, 4)
    [chat] = report.models
    assert chat.availability.last_24h == 60.0 and chat.availability.measured_minutes_30d == 10
    assert chat.meets_target is False


def test_the_health_watch_hands_each_round_to_the_recorder(database: Engine) -> None:
    engine = Switchable()
    with serve(engine.app()) as url:
        async def scenario() -> list[dict[str, bool]]:
            router = _router(url)
            rounds: list[dict[str, bool]] = []
            async with aiohttp.ClientSession() as session:
                watch = asyncio.create_task(router.watch_health(session, interval_s=0.01,
                                                                on_checked=rounds.append))
                while len(rounds) < 3:
                    await asyncio.sleep(0.01)
                watch.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watch
            return rounds

        rounds = asyncio.run(scenario())
    assert rounds[:3] == [{"chat": True}] * 3
