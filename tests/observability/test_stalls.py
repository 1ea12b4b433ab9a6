"""The event loop's lag and the collector's pauses reach /metrics, and move when the loop stalls."""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine

from llmaas.app import create_app
from llmaas.catalog import Catalog
from llmaas.observability.metrics import Metrics
from llmaas.observability.stalls import YOUNG_GENERATION_THRESHOLD, settle_heap, watch_event_loop
from llmaas.settings import Settings
from tests.servers import serve


def sample(metrics: Metrics, name: str, labels: dict[str, str] | None = None) -> float:
    value = metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


async def watched(metrics: Metrics, stall: float) -> None:
    """Runs the sampler, lets it take a few samples, blocks the loop for `stall` seconds, and lets it
    take the sample that notices."""
    watcher = asyncio.create_task(watch_event_loop(metrics, interval_s=0.02))
    await asyncio.sleep(0.1)
    time.sleep(stall)  # what a long synchronous call does to every request in flight
    gc.collect()
    await asyncio.sleep(0.05)
    watcher.cancel()
    with pytest.raises(asyncio.CancelledError):
        await watcher


def test_a_blocked_loop_shows_as_lag() -> None:
    metrics = Metrics()
    asyncio.run(watched(metrics, stall=0.3))
    samples = sample(metrics, "llmaas_event_loop_lag_samples_seconds_count")
    # The sample taken across the stall counted it, in a bucket above 250 ms. (Only lower bounds: on a
    # busy machine any sample may be late, so an idle loop's lag has no upper bound to test.)
    assert sample(metrics, "llmaas_event_loop_lag_samples_seconds_bucket", {"le": "0.25"}) < samples
    assert sample(metrics, "llmaas_event_loop_lag_samples_seconds_sum") >= 0.25
    # The full collection made during the stall is counted, by generation.
    assert sample(metrics, "llmaas_gc_pause_seconds_count", {"generation": "2"}) >= 1


def test_the_sampler_removes_its_gc_callback() -> None:
    before = list(gc.callbacks)
    asyncio.run(watched(Metrics(), stall=0))
    assert gc.callbacks == before


@pytest.fixture
def frozen_heap() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_settle_heap_freezes_start_up_and_raises_the_young_threshold(frozen_heap: None) -> None:
    settle_heap()
    assert gc.get_freeze_count() > 0
    assert gc.get_threshold()[0] == YOUNG_GENERATION_THRESHOLD


def test_the_gateway_serves_its_loop_lag(tmp_path: Path, database: Engine) -> None:
    app = create_app(Settings(home=tmp_path), catalog=Catalog([]), database=database)
    with serve(app) as url:
        deadline = time.monotonic() + 10
        while "llmaas_event_loop_lag_samples_seconds_count 0.0" in (text := httpx.get(f"{url}/metrics").text):
            assert time.monotonic() < deadline, "no lag sample in 10 s"
            time.sleep(0.05)
    assert "llmaas_event_loop_lag_seconds " in text
    assert 'llmaas_gc_pause_seconds_bucket{generation="2",le="0.001"}' in text
