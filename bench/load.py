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

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.elapsed_s if self.elapsed_s else 0.0



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
) -> Phase:
    """`warmup` discarded requests, then `requests` measured ones (or fewer if `max_s` runs out).

    `pids` names processes whose CPU time over the measured requests goes into `Phase.cpu_s`.
    """
    body = request_body(scenario.stream)
    expected = (fake_upstream.STREAM_BODY, fake_upstream.RELAYED_STREAM_BODY) if scenario.stream else None
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

        await drive(warmup, time.perf_counter() + max_s, record=False)
        phase.errors.clear()
        watched = pids or {}
        cpu_before = {name: cpu_seconds(pid) for name, pid in watched.items()}
        started = time.perf_counter()
        await drive(requests, started + max_s, record=True)
        phase.elapsed_s = time.perf_counter() - started
        phase.cpu_s = {name: cpu_seconds(pid) - cpu_before[name] for name, pid in watched.items()}
    return phase

