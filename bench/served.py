"""`llmaas serve` as a user runs it, for benchmarks: a one-model catalog, a temporary home, free ports.

    with serve(parallel=4, console=console) as served:
        served.gateway, served.key   # http://127.0.0.1:P/v1 and an API key
        served.engine                # the llama-server behind it, http://127.0.0.1:N/v1
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console

from bench.common import free_port, wait_http
from llmaas.catalog import load_catalog

MODEL = "qwen2.5-coder-0.5b-instruct"


@dataclass
class Served:
    gateway: str  # base URL up to and including /v1
    engine: str
    key: str
    process: subprocess.Popen[bytes]
    engine_pid: int
    log: Path


def _toml(value: Any) -> str:
    """Enough TOML for a catalog entry (JSON strings are valid TOML basic strings)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return orjson.dumps(value).decode()
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"no TOML for {value!r}")


def catalog_file(path: Path, parallel: int) -> Path:
    """The bundled catalog's entry for MODEL alone, with `parallel` llama.cpp slots."""
    entry = load_catalog().get(MODEL).model_dump(mode="json", exclude_none=True, exclude_defaults=True)
    entry["engine"]["parallel"] = parallel
    lines = ["[[models]]"] + [f"{key} = {_toml(value)}" for key, value in entry.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            # "pid (comm) state ppid ..." - comm may hold spaces, so split after the last ")".
            if int(stat.read_text().rpartition(")")[2].split()[1]) == pid:
                found.append(int(stat.parent.name))
    return found


def find_engine(serve_pid: int, timeout_s: float) -> tuple[int, int]:
    """(pid, port) of the llama-server that this `llmaas serve` started for MODEL."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for pid in _children(serve_pid):
            with contextlib.suppress(OSError):
                argv = (Path("/proc") / str(pid) / "cmdline").read_bytes().decode().split("\0")
                if "--alias" in argv and argv[argv.index("--alias") + 1] == MODEL and "--port" in argv:
                    return pid, int(argv[argv.index("--port") + 1])
        time.sleep(0.2)
    raise RuntimeError("the engine process did not appear")


@contextmanager
def serve(parallel: int, console: Console) -> Iterator[Served]:
    """Start `llmaas serve` with MODEL alone and `parallel` slots; stop it and its engine on exit."""
    with tempfile.TemporaryDirectory(prefix="llmaas-bench-") as tmp:
        home = Path(tmp)
        port = free_port()
        # Production settings otherwise (health checks every 2 s, 2 engine threads).
        env = {**os.environ, "LLMAAS_HOME": str(home), "LLMAAS_ENGINE_BASE_PORT": str(free_port())}
        command = [sys.executable, "-m", "llmaas", "serve", "--port", str(port),
                   "--catalog", str(catalog_file(home / "catalog.toml", parallel))]
        log = home / "serve.log"
        with log.open("wb") as out:
            process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
        engine_pid = 0
        try:
            started = time.monotonic()
            try:
                engine_pid, engine_port = find_engine(process.pid, timeout_s=120)
                wait_http(f"http://127.0.0.1:{port}/ready", timeout_s=300,
                          alive=lambda: process.poll() is None, what="llmaas serve")
            except RuntimeError as exc:
                raise RuntimeError(f"{exc}\n--- serve.log ---\n{log.read_text()[-4000:]}") from None
            console.log(f"llmaas serve ready in {time.monotonic() - started:.1f}s "
                        f"(engine pid {engine_pid}, port {engine_port}, --parallel {parallel})")
            created = subprocess.run(
                [sys.executable, "-m", "llmaas", "keys", "create", "--name", "bench"],
                env=env, capture_output=True, text=True, check=False, timeout=120,
            )
            if created.returncode != 0:
                raise RuntimeError(f"`llmaas keys create` failed ({created.returncode}):\n"
                                   f"{created.stdout[-2000:]}{created.stderr[-4000:]}")
            key = created.stdout.strip().splitlines()[-1]
            yield Served(f"http://127.0.0.1:{port}/v1", f"http://127.0.0.1:{engine_port}/v1", key,
                         process, engine_pid, log)
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
            if engine_pid and Path(f"/proc/{engine_pid}").exists():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(engine_pid, signal.SIGKILL)
