"""The load generator: N workers on one keep-alive aiohttp pool, a warm-up, then measured requests.

Every answer is checked (status 200; a stream must equal the fake engine's bytes exactly, its build
fingerprint hidden when relayed), and the CPU time of the processes named in `pids` is read around
the measured part.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

from bench import fake_upstream
from bench.common import cpu_seconds
from llmaas.gateway.shapes import PLATFORM_FINGERPRINT


@dataclass(frozen=True)
class Scenario:
    stream: bool
    concurrency: int

    @property
    def label(self) -> str:
        return f"{'stream' if self.stream else 'non-stream'} c={self.concurrency}"


@dataclass
class Phase:
    """One measured pass of one scenario against one target."""

    target: str  # "direct" or "gateway"
    latencies: list[float] = field(default_factory=list)  # seconds, full answer
    first_bytes: list[float] = field(default_factory=list)  # seconds, streams only
    elapsed_s: float = 0.0
    errors: Counter[str] = field(default_factory=Counter)
    cpu_s: dict[str, float] = field(default_factory=dict)  # CPU used while measuring, per process
    sent: int = 0  # requests sent, warm-up included
    stalls: Stalls | None = None  # the gateway's own view of its event loop, when it was read

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.elapsed_s if self.elapsed_s else 0.0



@dataclass
class Stalls:
    """What a gateway's /metrics says about its event loop over one phase (the difference of two
    scrapes): lag samples (10 a second) by bucket, and garbage collections by generation."""

    lag_buckets: dict[float, float] = field(default_factory=dict)  # upper bound (s) -> samples at most
    gc_count: dict[str, float] = field(default_factory=dict)  # generation -> collections
    gc_seconds: dict[str, float] = field(default_factory=dict)  # generation -> time stopped

    @classmethod
    def parse(cls, text: str) -> Stalls:
        stalls = cls()
        for line in text.splitlines():
            name, _, value = line.rpartition(" ")
            if name.startswith("llmaas_event_loop_lag_samples_seconds_bucket{"):
                bound = name.split('le="')[1].split('"')[0]
                stalls.lag_buckets[float(bound)] = float(value)
            elif name.startswith("llmaas_gc_pause_seconds_count{"):
                stalls.gc_count[name.split('"')[1]] = float(value)
            elif name.startswith("llmaas_gc_pause_seconds_sum{"):
                stalls.gc_seconds[name.split('"')[1]] = float(value)
        return stalls

    def since(self, before: Stalls) -> Stalls:
        def minus(now: dict[Any, float], then: dict[Any, float]) -> dict[Any, float]:
            return {k: v - then.get(k, 0.0) for k, v in now.items()}

        return Stalls(minus(self.lag_buckets, before.lag_buckets), minus(self.gc_count, before.gc_count),
                      minus(self.gc_seconds, before.gc_seconds))

    @property
    def samples(self) -> int:
        return int(self.lag_buckets.get(float("inf"), 0))

    @property
    def max_lag_bound_s(self) -> float | None:
        """The upper bound of the bucket holding the largest lag sampled (None: no sample)."""
        total = self.samples
        for bound in sorted(self.lag_buckets):
            if total and self.lag_buckets[bound] >= total:
                return bound
        return None

    def lagging(self, over_s: float) -> int:
        """Samples that found the loop late by more than `over_s` (a bucket bound)."""
        return self.samples - int(self.lag_buckets.get(over_s, 0))


def request_body(stream: bool) -> bytes:
    body: dict[str, Any] = {
        "model": fake_upstream.MODEL,
        "messages": [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "Say hello in ten words."},
        ],
        "max_tokens": 16,
        "temperature": 0,
    }
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return orjson.dumps(body)



async def run_phase(
    target: str,
    url: str,
    headers: dict[str, str],
    scenario: Scenario,
    *,
    warmup: int,
    requests: int,
    max_s: float,
    pids: dict[str, int] | None = None,
    metrics_url: str | None = None,
) -> Phase:
    """`warmup` discarded requests, then `requests` measured ones (or fewer if `max_s` runs out).

    `pids` names processes whose CPU time over the measured requests goes into `Phase.cpu_s`;
    `metrics_url`, a gateway's /metrics, read around them into `Phase.stalls`.
    """
    body = request_body(scenario.stream)
    engine = fake_upstream.STREAM_BODY
    expected = (engine, fake_upstream.relayed(engine, PLATFORM_FINGERPRINT)) if scenario.stream else None
    phase = Phase(target)
    connector = aiohttp.TCPConnector(limit=scenario.concurrency, keepalive_timeout=60)
    async with aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=30),
        headers={"Content-Type": "application/json", **headers},
        skip_auto_headers=("User-Agent",),
    ) as session:

        async def one() -> tuple[float, float | None]:
            started = time.perf_counter()
            first: float | None = None
            async with session.post(url, data=body) as response:
                if scenario.stream:
                    head = await response.content.readany()
                    first = time.perf_counter() - started
                    answer = head + await response.content.read()
                else:
                    answer = await response.read()
            total = time.perf_counter() - started
            if response.status != 200:
                raise ValueError(f"HTTP {response.status}: {answer[:120]!r}")
            if expected is not None and answer not in expected:
                raise ValueError(f"stream differs from the engine's: {answer[-120:]!r}")
            if expected is None and not answer.endswith(b"}"):
                raise ValueError(f"unexpected body: {answer[:120]!r}")
            return total, first

        async def drive(count: int, deadline: float, record: bool) -> None:
            remaining = count

            async def worker() -> None:
                nonlocal remaining
                while remaining > 0 and time.perf_counter() < deadline:
                    remaining -= 1
                    phase.sent += 1
                    try:
                        total, first = await one()
                    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                        phase.errors[f"{type(exc).__name__}: {exc}"[:160]] += 1
                        continue
                    if record:
                        phase.latencies.append(total)
                        if first is not None:
                            phase.first_bytes.append(first)

            await asyncio.gather(*(worker() for _ in range(scenario.concurrency)))

        async def stalls() -> Stalls | None:
            if metrics_url is None:
                return None
            async with session.get(metrics_url) as response:
                return Stalls.parse(await response.text())

        await drive(warmup, time.perf_counter() + max_s, record=False)
        phase.errors.clear()
        watched = pids or {}
        stalls_before = await stalls()
        cpu_before = {name: cpu_seconds(pid) for name, pid in watched.items()}
        started = time.perf_counter()
        await drive(requests, started + max_s, record=True)
        phase.elapsed_s = time.perf_counter() - started
        phase.cpu_s = {name: cpu_seconds(pid) - cpu_before[name] for name, pid in watched.items()}
        stalls_after = await stalls()
        if stalls_after is not None and stalls_before is not None:
            phase.stalls = stalls_after.since(stalls_before)
    return phase

