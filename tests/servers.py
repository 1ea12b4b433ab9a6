"""Running ASGI apps on real loopback ports for tests, each in its own thread and event loop."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import uvicorn
from starlette.types import ASGIApp


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def serve(app: ASGIApp, **options: Any) -> Iterator[str]:
    """Serve `app` on 127.0.0.1; yields its base URL and stops it on exit. `options` go to uvicorn's
    Config: with `ssl_certfile` and `ssl_keyfile` it serves HTTPS."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", **options)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("test server did not start")
        time.sleep(0.01)
    try:
        yield f"{'https' if options.get('ssl_certfile') else 'http'}://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def wait_for(
    condition: Callable[[], bool], *, timeout_s: float = 60, interval_s: float = 0.1,
    process: subprocess.Popen[bytes] | None = None, log: Path | None = None, what: str = "the condition",
) -> None:
    """Poll `condition` until it holds; an HTTP error counts as "not yet". Fails when time runs out or
    `process` exits first, quoting the end of its `log`."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if condition():
                return
        except httpx.HTTPError:
            pass
        tail = f":\n{log.read_text()[-3000:]}" if log is not None and log.exists() else ""
        if process is not None and process.poll() is not None:
            raise AssertionError(f"the process exited before {what}{tail}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached in {timeout_s:.0f} s{tail}")
        time.sleep(interval_s)


@contextmanager
def redis_server(workdir: Path, port: int, *flags: str, **client: Any) -> Iterator[None]:
    """A redis-server on 127.0.0.1 with `flags` (its listening ports among them), ready once a client
    made with `client` (redis.Redis keywords: TLS options) answers a ping; stopped on exit."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed (Debian: apt-get install redis-server)")
    command = [binary, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(workdir),
               "--logfile", str(workdir / "redis.log"), *flags]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        with redis.Redis(host="127.0.0.1", port=port, **client) as probe:
            while True:
                try:
                    probe.ping()
                    break
                except redis.ConnectionError:
                    if time.monotonic() > deadline or process.poll() is not None:
                        raise RuntimeError(f"redis-server did not start; see {workdir}/redis.log") from None
                    time.sleep(0.05)
        yield
    finally:
        process.terminate()
        process.wait(10)
