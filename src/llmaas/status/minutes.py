"""Each model's health and speed, counted per minute in memory and written once a minute.

`probed` runs after each round of health probes, `streamed` when a streamed answer ends: both only add
to counters. A background task writes every finished minute in one transaction, off the event loop,
and `close` writes the rest before shutdown. Each replica writes its own rows under a random replica
id, so replicas sharing one database never write the same row; readers sum them per minute. Rows
older than the retention are deleted every hour. Counts only: never a prompt, an answer or a tenant.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, delete, insert
from starlette.concurrency import run_in_threadpool

from llmaas.storage.tables import HealthMinuteRow

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]

# Time-to-first-token buckets, in milliseconds: 5 ms to about 2 minutes, each 25 % wider than the one
# before, so a median read from summed buckets is within about 12 % of the true one.
TTFT_BOUNDS_MS: tuple[float, ...] = tuple(round(5 * 1.25**i, 3) for i in range(46))


def ttft_bucket(milliseconds: float) -> int:
    """The bucket holding `milliseconds`: the first whose bound is not below it (the last: beyond)."""
    return bisect_left(TTFT_BOUNDS_MS, milliseconds)


def percentile_ms(buckets: Mapping[int, int], fraction: float) -> float | None:
    """The value below which `fraction` of the counted streams lie, read from summed buckets with a
    linear guess inside the bucket where it falls; None when nothing was counted."""
    total = sum(buckets.values())
    if total == 0:
        return None
    rank, seen = fraction * total, 0
    for index in sorted(buckets):
        count = buckets[index]
        if count and seen + count >= rank:
            lower = TTFT_BOUNDS_MS[index - 1] if index > 0 else 0.0
            upper = TTFT_BOUNDS_MS[min(index, len(TTFT_BOUNDS_MS) - 1)]
            return lower + (upper - lower) * (rank - seen) / count
        seen += count
    return TTFT_BOUNDS_MS[-1]  # pragma: no cover (rank never exceeds the total)


def minute_of(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


@dataclass
class MinuteTally:
    """One model's minute on this replica."""

    probes: int = 0
    probes_up: int = 0
    streams: int = 0
    ttft: Counter[int] = field(default_factory=Counter)
    decode_tokens: int = 0
    decode_s: float = 0.0

    def add(self, other: MinuteTally) -> None:
        self.probes += other.probes
        self.probes_up += other.probes_up
        self.streams += other.streams
        self.ttft.update(other.ttft)
        self.decode_tokens += other.decode_tokens
        self.decode_s += other.decode_s


class MinuteRecorder:
    """Counts per (minute, model) for this replica; `start` writes them as minutes finish.

        recorder.probed(router.readiness())           # after each round of health probes
        recorder.streamed("chat", first_token_s=0.2, decode_tokens=40, decode_s=1.1)
    """

    def __init__(
        self, database: Engine, *, retention_days: int = 35, clock: Clock = lambda: datetime.now(UTC),
        replica: str | None = None,
    ) -> None:
        self._database = database
        self._retention = timedelta(days=retention_days)
        self._clock = clock
        self.replica = replica or secrets.token_hex(8)
        self._tallies: dict[tuple[datetime, str], MinuteTally] = {}
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    def _tally(self, model: str) -> MinuteTally:
        key = (minute_of(self._clock()), model)
        tally = self._tallies.get(key)
        if tally is None:
            tally = self._tallies[key] = MinuteTally()
        return tally

    def probed(self, readiness: Mapping[str, bool]) -> None:
        """One round of health probes: whether each model could be served."""
        for model, ready in readiness.items():
            tally = self._tally(model)
            tally.probes += 1
            tally.probes_up += ready

    def streamed(self, model: str, *, first_token_s: float, decode_tokens: int, decode_s: float) -> None:
        """A streamed answer of `model` ended: its time to first token, then the tokens that followed
        and how long they took."""
        tally = self._tally(model)
        tally.streams += 1
        tally.ttft[ttft_bucket(first_token_s * 1000)] += 1
        tally.decode_tokens += max(decode_tokens, 0)
        tally.decode_s += max(decode_s, 0.0)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        pruned_at: datetime | None = None
        while True:
            now = self._clock()
            # Just after the next minute begins, so the one before is whole.
            await asyncio.sleep(60 - now.second - now.microsecond / 1e6 + 0.5)
            try:
                await self.flush()
                if pruned_at is None or self._clock() - pruned_at >= timedelta(hours=1):
                    await run_in_threadpool(prune, self._database, before=self._clock() - self._retention)
                    pruned_at = self._clock()
            except Exception:  # the status page must not stop the gateway; the minutes are retried
                log.exception("health minutes not written; will retry")

    async def flush(self, *, everything: bool = False) -> None:
        """Write the finished minutes (with `everything`, the current one too) in one transaction; on
        failure they stay for the next try, unless older than the retention."""
        async with self._lock:
            current = minute_of(self._clock())
            batch = {key: tally for key, tally in self._tallies.items() if everything or key[0] < current}
            if not batch:
                return
            for key in batch:
                del self._tallies[key]
            try:
                await run_in_threadpool(self._write, batch)
            except BaseException:
                oldest = current - self._retention
                for key, tally in batch.items():
                    if key[0] >= oldest:
                        self._tallies.setdefault(key, MinuteTally()).add(tally)
                raise

    def _write(self, batch: dict[tuple[datetime, str], MinuteTally]) -> None:
        rows = [
            {"minute": minute, "model": model, "replica": self.replica, "probes": tally.probes,
             "probes_up": tally.probes_up, "streams": tally.streams,
             "ttft_buckets": {str(index): count for index, count in tally.ttft.items()},
             "decode_tokens": tally.decode_tokens, "decode_s": tally.decode_s}
            for (minute, model), tally in batch.items()
        ]
        with self._database.begin() as connection:
            connection.execute(insert(HealthMinuteRow), rows)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.flush(everything=True)


def prune(database: Engine, *, before: datetime) -> int:
    """Delete the minutes before `before`; returns how many rows went."""
    with database.begin() as connection:
        return connection.execute(delete(HealthMinuteRow).where(HealthMinuteRow.minute < before)).rowcount
