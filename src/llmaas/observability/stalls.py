"""What stalls the event loop, measured in production, and the remedy for the stall we found.

`watch_event_loop` samples how late the loop runs a timer (its lag: how long it was busy with
something else) and the garbage collector's pauses, into `Metrics`. A request's tail latency is the
loop's worst lag while it waits, so a stall shows in `/metrics` before anyone measures a p99.

`settle_heap` is what the measurements led to (docs/benchmarks.md, section 10): with the default
thresholds a full collection walked the whole start-up heap (~160,000 objects: FastAPI, pydantic,
SQLAlchemy, the catalog) about once a second under load and stopped the loop for ~70 ms each time.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections import deque
from typing import Any

from llmaas.observability.metrics import Metrics

LAG_SAMPLE_INTERVAL_S = 0.1  # measured alone: ~1.7 ms of CPU per second, loop wake-ups included

# Objects allocated (net) before a young collection: 10,000 rather than CPython's 700, so that the
# objects of requests in flight die young instead of being promoted (and then found only by a full
# collection). Measured: about 50× fewer young collections under load, each as short as before.
YOUNG_GENERATION_THRESHOLD = 10_000


def settle_heap() -> None:
    """Call once start-up is over: collect what start-up left, move every surviving object out of
    the collector's sight (`gc.freeze`: they live as long as the process), and raise the young
    generation's threshold. Process-wide; `llmaas serve` calls it, a test need not.

    A frozen object that is dropped later is still freed by reference counting; only one caught in a
    reference cycle stays for good (parts of a catalog replaced by a reload, at worst: rare and small)."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_GENERATION_THRESHOLD, older, oldest)


class GarbageCollectionPauses:
    """Times each collection through `gc.callbacks`. The callback only appends to a bounded deque:
    a collection can start inside any allocation, even one made while a metric's lock is held, so
    it must not touch the metrics (their lock is not reentrant). `drain` hands them over later."""

    def __init__(self, keep: int = 10_000) -> None:
        self._pauses: deque[tuple[int, float]] = deque(maxlen=keep)
        self._started = 0.0

    def __enter__(self) -> GarbageCollectionPauses:
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._callback)

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self._pauses.append((info["generation"], time.perf_counter() - self._started))

    def drain(self) -> list[tuple[int, float]]:
        """(generation, seconds) of each collection since the last drain."""
        pauses = []
        while self._pauses:
            pauses.append(self._pauses.popleft())
        return pauses


async def watch_event_loop(metrics: Metrics, *, interval_s: float = LAG_SAMPLE_INTERVAL_S) -> None:
    """Forever: sleep `interval_s`, record how much later than asked the loop woke up, and record
    the collector's pauses since the last sample. Timers have a millisecond's granularity (libuv),
    so lags under ~1 ms are noise."""
    frozen = 0
    with GarbageCollectionPauses() as pauses:
        while True:
            asked = time.perf_counter()
            await asyncio.sleep(interval_s)
            metrics.observe_loop_lag(max(0.0, time.perf_counter() - asked - interval_s))
            if not frozen:  # counting walks every frozen object (~160,000): once frozen, counted once
                frozen = gc.get_freeze_count()
                metrics.gc_frozen.set(frozen)
            for generation, seconds in pauses.drain():
                metrics.observe_gc_pause(generation, seconds)
