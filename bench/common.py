"""Small helpers shared by the benchmarks: ports, CPU pinning, percentiles, machine facts."""

from __future__ import annotations

import datetime
import math
import os
import platform
import socket
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def cpus() -> list[int]:
    """The CPUs this process may run on, in order."""
    return sorted(os.sched_getaffinity(0))


def pin(cpu: int | None) -> None:
    """Pin the calling process to one CPU (no-op for None)."""
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})


def cpu_seconds(pid: int) -> float:
    """CPU time a process has used so far, all threads, from the scheduler's nanosecond counters.

    Robust where wall-clock latency is not: on a shared machine, a neighbour's load stretches
    latencies but not the CPU time our process spends per request.
    """
    total = 0
    for stat in Path(f"/proc/{pid}/task").glob("*/schedstat"):
        try:
            total += int(stat.read_text().split()[0])
        except (OSError, IndexError, ValueError):
            continue  # a thread that just exited
    return total / 1e9


def percentile(ordered: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile of already sorted values; q in [0, 100]."""
    if not ordered:
        return math.nan
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def machine() -> dict[str, object]:
    """What a reader needs to judge the numbers: cores, CPU model, load, date."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "usable_cpus": cpus(),
        "cpu_model": model,
        "python": platform.python_version(),
        "loadavg_1m": os.getloadavg()[0],
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def wait_http(
    url: str, *, timeout_s: float, alive: Callable[[], bool] = lambda: True, what: str = "server"
) -> None:
    """Poll `url` until it answers 200, the deadline passes, or `alive()` turns false."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not alive():
            raise RuntimeError(f"{what} exited before it was ready")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{what} not ready at {url} within {timeout_s:.0f}s")


async def read_body(receive: Callable[[], Awaitable[dict[str, Any]]]) -> bytes:
    """An ASGI request's whole body, for the benchmarks' raw ASGI apps."""
    body, more = b"", True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    return body


def stop(processes: Sequence[BaseProcess]) -> None:
    """Terminate the benchmark's processes, the last started first; kill one that does not go."""
    for process in reversed(processes):
        process.terminate()
    for process in reversed(processes):
        process.join(15)
        if process.is_alive():
            process.kill()
            process.join(5)


@contextmanager
def importing_from(src: str | None) -> Iterator[None]:
    """Processes spawned inside import llmaas (and anything else) from `src` first: another tree's
    `src` directory, so that one run compares two trees. None: this tree."""
    if src is None:
        yield
        return
    path = os.path.abspath(src)
    sys.path.insert(0, path)  # what a spawned child's sys.path starts with
    try:
        yield
    finally:
        sys.path.remove(path)
