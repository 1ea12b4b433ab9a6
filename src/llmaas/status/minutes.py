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
import time
from bisect import bisect_left
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import Engine, delete, insert
from starlette.concurrency import run_in_threadpool

from llmaas.storage.tables import HealthMinuteRow

log = logging.getLogger(__name__)

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
    ttft: dict[int, int] = field(default_factory=dict)  # bucket: streams
    decode_tokens: int = 0
    decode_s: float = 0.0

    def add(self, other: MinuteTally) -> None:
        self.probes += other.probes
        self.probes_up += other.probes_up
        self.streams += other.streams
        for bucket, count in other.ttft.items():
            self.ttft[bucket] = self.ttft.get(bucket, 0) + count
        self.decode_tokens += other.decode_tokens
        self.decode_s += other.decode_s


class MinuteRecorder:
    """Counts per minute and model for this replica; `start` writes them as minutes finish.

        recorder.probed(router.readiness())           # after each round of health probes
        recorder.streamed("chat", first_token_s=0.2, decode_tokens=40, decode_s=1.1)

    `clock` gives seconds since the epoch (time.time): the minute is their integer division by 60, far
    cheaper per call than a datetime.
    """

    def __init__(
        self, database: Engine, *, retention_days: int = 35, clock: Callable[[], float] = time.time,
        replica: str | None = None,
    ) -> None:
        self._database = database
        self._retention_minutes = retention_days * 24 * 60
        self._clock = clock
        self.replica = replica or secrets.token_hex(8)
        self._minute = int(clock() // 60)
        self._current: dict[str, MinuteTally] = {}  # the minute under way
        self._finished: dict[tuple[int, str], MinuteTally] = {}  # waiting to be written
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._pruned_at: float | None = None

    def _tally(self, model: str) -> MinuteTally:
        minute = int(self._clock() // 60)
        if minute != self._minute:
            self._roll(minute)
        tally = self._current.get(model)
        if tally is None:
            tally = self._current[model] = MinuteTally()
        return tally

    def _roll(self, minute: int) -> None:
        """Move the minute under way to those waiting to be written."""
        for model, tally in self._current.items():
            self._finished.setdefault((self._minute, model), MinuteTally()).add(tally)
        self._current, self._minute = {}, minute

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
        bucket = bisect_left(TTFT_BOUNDS_MS, first_token_s * 1000)
        tally.ttft[bucket] = tally.ttft.get(bucket, 0) + 1
        tally.decode_tokens += max(decode_tokens, 0)
        tally.decode_s += max(decode_s, 0.0)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            # Just after the next minute begins, so the one before is whole.
            await asyncio.sleep(60 - self._clock() % 60 + 0.5)
            try:
                await self.tick()
            except Exception:  # the status page must not stop the gateway; the minutes are retried
                log.exception("health minutes not written; will retry")

    async def tick(self) -> None:
        """What runs once a minute: write the finished minutes, and once an hour delete the rows past
        the retention."""
        await self.flush()
        if self._pruned_at is None or self._clock() - self._pruned_at >= 3600:
            oldest = self._moment(int(self._clock() // 60) - self._retention_minutes)
            await run_in_threadpool(prune, self._database, before=oldest)
            self._pruned_at = self._clock()

    async def flush(self, *, everything: bool = False) -> None:
        """Write the finished minutes (with `everything`, the current one too) in one transaction; on
        failure they stay for the next try, unless older than the retention."""
        async with self._lock:
            now = int(self._clock() // 60)
            if everything or now != self._minute:
                self._roll(now)  # `everything` is for `close`: nothing is counted after it
            batch, self._finished = self._finished, {}
            if not batch:
                return
            try:
                await run_in_threadpool(self._write, batch)
            except BaseException:
                for key, tally in batch.items():
                    if key[0] >= now - self._retention_minutes:
                        self._finished.setdefault(key, MinuteTally()).add(tally)
                raise

    @staticmethod
    def _moment(minute: int) -> datetime:
        return datetime.fromtimestamp(minute * 60, UTC)

    def _write(self, batch: dict[tuple[int, str], MinuteTally]) -> None:
        rows = [
            {"minute": self._moment(minute), "model": model, "replica": self.replica, "probes": tally.probes,
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
