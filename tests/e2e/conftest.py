"""`llmaas serve` as a user runs it, with the real embedded engines and bundled models.

One server for the whole session: starting seven engines on two cores takes a while.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import openai
import pytest

from tests.clients import sdk
from tests.servers import free_port, wait_for

STARTUP_TIMEOUT_S = 600  # the first run builds llama.cpp and assembles the models


@dataclass
class Served:
    url: str
    key: str
    home: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes]

    def client(self, **kwargs: object) -> openai.OpenAI:
        return sdk(f"{self.url}/v1", self.key, **kwargs)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "llmaas", *args], env=self.env, capture_output=True, text=True,
            timeout=120, check=False,
        )


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    home = tmp_path_factory.mktemp("llmaas-home")
    port = free_port()
    env = {
        **os.environ,
        "LLMAAS_HOME": str(home),
        "LLMAAS_ENGINE_BASE_PORT": str(port + 1),
        "LLMAAS_KEY_CACHE_TTL_S": "0.5",
        "LLMAAS_HEALTH_INTERVAL_S": "0.5",
    }
    log_path = home / "serve.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "llmaas", "serve", "--port", str(port)],
            env=env, stdout=log, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, process, log_path)
        created = subprocess.run(
            [sys.executable, "-m", "llmaas", "keys", "create", "--name", "e2e"],
            env=env, capture_output=True, text=True, check=True, timeout=60,
        )
        key = created.stdout.strip().splitlines()[-1]
        yield Served(url, key, home, env, process)
    finally:
        engines = children(process.pid)
        process.send_signal(signal.SIGTERM)
        try:
            assert process.wait(60) == 0, "llmaas serve exits cleanly on SIGTERM"
        except subprocess.TimeoutExpired:
            process.kill()
            raise
        # Teardown doubles as the test of a clean stop: no engine may outlive the platform.
        assert not [pid for pid in engines if Path(f"/proc/{pid}").exists()], "engines left running"


def children(parent: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            # /proc/PID/stat: "pid (name) state ppid ..."; the name may itself hold parentheses.
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if ppid == parent:
            pids.append(int(entry.name))
    return pids


def _wait_ready(url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    wait_for(lambda: httpx.get(f"{url}/ready?all=true", timeout=2).status_code == 200,
             timeout_s=STARTUP_TIMEOUT_S, interval_s=0.5, process=process, log=log_path,
             what="llmaas serve ready")
