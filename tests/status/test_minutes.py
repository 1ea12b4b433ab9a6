"""Per-minute counting: buckets and their median, rows written per finished minute and per replica,
kept through a failed write, and pruned past the retention; on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select

from llmaas.status import MinuteRecorder, prune
from llmaas.status.minutes import TTFT_BOUNDS_MS, percentile_ms, ttft_bucket
from llmaas.storage.tables import HealthMinuteRow

START = datetime(2026, 12, 1, 12, 0, 10, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now.timestamp()

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def rows(database: Engine) -> list[HealthMinuteRow]:
    with database.connect() as connection:
        return list(connection.execute(select(HealthMinuteRow).order_by(  # type: ignore[arg-type]
            HealthMinuteRow.minute, HealthMinuteRow.model, HealthMinuteRow.replica)))


def test_buckets_hold_their_values_and_the_median_falls_in_the_right_one() -> None:
    assert ttft_bucket(0) == 0 and ttft_bucket(5) == 0 and ttft_bucket(5.01) == 1
    assert ttft_bucket(10**9) == len(TTFT_BOUNDS_MS)  # beyond the last bound: counted, not lost
    assert percentile_ms({}, 0.5) is None
    values = [100.0] * 5 + [400.0] * 4
    buckets: dict[int, int] = {}
    for value in values:
        buckets[ttft_bucket(value)] = buckets.get(ttft_bucket(value), 0) + 1
    p50 = percentile_ms(buckets, 0.5)
    assert p50 is not None and 100 / 1.25 < p50 < 100 * 1.25  # within a bucket's width of the true median
    only_slow = {ttft_bucket(2000): 3}
    median = percentile_ms(only_slow, 0.5)
    assert median is not None and 2000 / 1.25 < median <= 2000 * 1.25


def test_finished_minutes_are_written_and_the_current_one_waits(database: Engine) -> None:
    clock = Clock()

    async def scenario() -> None:
        recorder = MinuteRecorder(database, clock=clock, replica="a")
        recorder.probed({"chat": True, "embed": False})
        recorder.streamed("chat", first_token_s=0.2, decode_tokens=10, decode_s=0.5)
        await recorder.flush()
        assert rows(database) == []  # the minute is not over
        clock.advance(minutes=1)
        recorder.probed({"chat": False, "embed": False})
        await recorder.flush()
        written = rows(database)
        assert [(r.model, r.probes, r.probes_up, r.streams) for r in written] == [
            ("chat", 1, 1, 1), ("embed", 1, 0, 0)]
        chat = written[0]
        assert chat.decode_tokens == 10 and chat.decode_s == 0.5
        assert chat.ttft_buckets == {str(ttft_bucket(200)): 1}
        await recorder.close()  # the current minute too
        assert len(rows(database)) == 4

    asyncio.run(scenario())


def test_replicas_write_their_own_rows_for_the_same_minute(database: Engine) -> None:
    clock = Clock()

    async def scenario() -> None:
        first, second = (MinuteRecorder(database, clock=clock) for _ in range(2))
        assert first.replica != second.replica
        first.probed({"chat": True})
        second.probed({"chat": False})
        await asyncio.gather(first.close(), second.close())

    asyncio.run(scenario())
    with database.connect() as connection:
        summed = connection.execute(select(func.count(), func.sum(HealthMinuteRow.probes),
                                           func.sum(HealthMinuteRow.probes_up))).one()
    assert tuple(summed) == (2, 2, 1)


def test_a_failed_write_keeps_the_minutes_for_the_next(database: Engine) -> None:
    clock = Clock()

    async def scenario() -> None:
        recorder = MinuteRecorder(database, clock=clock, replica="a")
        recorder.probed({"chat": True})
        clock.advance(minutes=1)
        write = recorder._write
        recorder._write = lambda batch: (_ for _ in ()).throw(OSError("database away"))  # type: ignore[method-assign]
        with pytest.raises(OSError):
            await recorder.flush()
        recorder._write = write  # type: ignore[method-assign]
        recorder.probed({"chat": True})
        await recorder.close()

    asyncio.run(scenario())
    assert [(r.probes, r.probes_up) for r in rows(database)] == [(1, 1), (1, 1)]


def test_minutes_past_the_retention_are_pruned(database: Engine) -> None:
    clock = Clock(START - timedelta(days=40))

    async def scenario() -> None:
        for _ in range(3):  # 40, 36 and 32 days ago
            recorder = MinuteRecorder(database, clock=clock)
            recorder.probed({"chat": True})
            await recorder.close()
            clock.advance(days=4)

    asyncio.run(scenario())
    assert prune(database, before=START - timedelta(days=35)) == 2
    assert [r.minute.date() for r in rows(database)] == [(START - timedelta(days=32)).date()]


def test_the_writer_prunes_past_the_retention_once_an_hour(database: Engine) -> None:
    clock = Clock(START - timedelta(days=36))

    async def old_row() -> None:
        old = MinuteRecorder(database, clock=Clock(clock.now))
        old.probed({"chat": True})
        await old.close()

    async def scenario() -> None:
        await old_row()
        clock.now = START
        recorder = MinuteRecorder(database, clock=clock, retention_days=35)
        recorder.probed({"chat": True})
        clock.advance(minutes=1)
        await recorder.tick()  # writes the minute, deletes the one of 36 days ago
        assert [r.minute.replace(tzinfo=None) for r in rows(database)] == [datetime(2026, 12, 1, 12, 0)]
        clock.now = START - timedelta(days=36)
        await old_row()  # another one that old
        clock.now = START + timedelta(minutes=30)
        await recorder.tick()  # within the hour: not yet
        assert len(rows(database)) == 2
        clock.advance(hours=1)
        await recorder.tick()
        assert len(rows(database)) == 1

    asyncio.run(scenario())
