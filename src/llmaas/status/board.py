"""The report the public pages show, built at most once per `max_age_s` whatever the traffic.

/status and /status.json need no login and take no input, so what protects the database is this: one
build at a time, off the event loop, and every request in between gets the same report.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from llmaas.catalog import Catalog
from llmaas.status.report import build_report
from llmaas.status.schema import StatusReport

MAX_AGE_S = 15.0


class StatusBoard:
    def __init__(self, database: Engine, *, max_age_s: float = MAX_AGE_S,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._database = database
        self._max_age = timedelta(seconds=max_age_s)
        self._clock = clock
        self._report: StatusReport | None = None
        self._lock = asyncio.Lock()

    async def report(self, catalog: Catalog, readiness: Mapping[str, bool]) -> StatusReport:
        """The newest report, rebuilt when older than `max_age_s`; concurrent callers share one build."""
        async with self._lock:
            now = self._clock()
            if self._report is None or now - self._report.generated_at >= self._max_age:
                self._report = await run_in_threadpool(
                    build_report, self._database, catalog, dict(readiness), now=now)
            return self._report
