"""Sampling a running process with py-spy, and summarising where its CPU time goes.

    with recording(pid, raw_path, rate=200):
        ...  # load
    summary = profile_summary(raw_path.read_text(), top=20)
    print_profile(console, summary, title="Gateway process")

or all of it at once: `await profile_under_load(pid, lambda: load(), output, ...)`.
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import orjson
from rich.console import Console
from rich.table import Table

Summary = dict[str, list[tuple[str, int]] | int]


def py_spy() -> str:
    found = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(found).exists():
        raise SystemExit("py-spy is not installed: .venv/bin/pip install py-spy")
    return found


def _package(frame: str) -> str:
    """`func (uvicorn/protocols/http/x.py:12)` -> `uvicorn`; llmaas is split by subpackage.

    py-spy prints paths relative to sys.path, so the first component is the top-level package
    (or the stdlib module: `threading`, `asyncio`, ...).
    """
    path = frame.rpartition("(")[2].rstrip(")").rpartition(":")[0]
    parts = path.removesuffix(".py").split("/")
    if parts[0] == "llmaas" and len(parts) > 2:
        return ".".join(parts[:2])
    return parts[0]


_IDLE_LEAVES = ("Condition.wait (threading.py", "Queue.get (queue.py", "Queue._get (queue.py")


def profile_summary(raw: str, top: int) -> Summary:
    """Self time by function and by package, and inclusive time by function, from py-spy's raw output.

    Without --native, time in C code (uvloop's loop and socket calls, orjson, pydantic-core) is
    charged to the Python frame that called it: `Runner.run` self time is the event loop's own.
    """
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    total = idle = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        if frames[-1].startswith(_IDLE_LEAVES):
            idle += count  # a thread-pool worker waiting for work: not CPU time
            continue
        total += count
        own[frames[-1]] += count
        packages[_package(frames[-1])] += count
        for frame in set(frames):
            inclusive[frame] += count
    return {
        "samples": total,
        "idle_worker_samples": idle,
        "self_by_package": packages.most_common(top),
        "self_by_function": own.most_common(top),
        # Frames in more than half the samples are the ASGI spine every request passes through
        # (uvicorn -> middleware -> router); below it, the steps of the request.
        "inclusive_by_function": [(frame, count) for frame, count in inclusive.most_common()
                                  if count <= total / 2][:top * 2],
    }


@contextmanager
def recording(pid: int, raw: Path, *, rate: int) -> Iterator[None]:
    """py-spy samples `pid` (all threads, blocking sampling) into `raw` while the block runs."""
    recorder = subprocess.Popen(
        [py_spy(), "record", "--pid", str(pid), "--format", "raw", "--function",
         "--rate", str(rate), "--output", str(raw)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        yield
    finally:
        recorder.send_signal(signal.SIGINT)  # py-spy writes its output on Ctrl-C
        _, stderr = recorder.communicate(timeout=60)
    if not raw.exists():
        raise SystemExit(f"py-spy wrote nothing: {stderr.decode(errors='replace')[-2000:]}")


def print_profile(console: Console, summary: Summary, *, title: str) -> None:
    total = summary["samples"]
    assert isinstance(total, int)
    for heading, key in (("self time by package", "self_by_package"),
                         ("self time by function", "self_by_function"),
                         ("inclusive time by function, below the ASGI spine", "inclusive_by_function")):
        table = Table("share", "samples", "where", title=f"{title}: {heading} ({total} samples)")
        entries = summary[key]
        assert isinstance(entries, list)
        for where, count in entries:
            table.add_row(f"{100 * count / total:.1f}%", str(count), where)
        console.print(table)


async def profile_under_load(pid: int, load: Callable[[], Awaitable[object]], output: Path, *, rate: int,
                             top: int, console: Console, title: str) -> None:
    """py-spy on `pid` while `load()` runs; the summary goes to `output` as JSON, the raw stacks beside it."""
    raw = output.with_suffix(".raw.txt")
    with recording(pid, raw, rate=rate):
        await asyncio.sleep(1.0)  # let py-spy attach
        await load()
    summary = profile_summary(raw.read_text(), top=top)
    output.write_text(orjson.dumps(summary, option=orjson.OPT_INDENT_2).decode())
    print_profile(console, summary, title=title)
    console.print(f"Raw stacks: {raw}; summary: {output}")
