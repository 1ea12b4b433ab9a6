"""`llmaas serve` as a user runs it, with the real embedded engines and bundled models.

One server for the whole session: starting seven engines on two cores takes a while. A second one,
over HTTPS with two of the small models, starts only for the tests that ask for it (`served_https`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import ssl
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import openai
import pytest

from tests.certs import make_pair
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
    ca: Path | None = None  # over HTTPS: the certificate clients trust

    def client(self, **kwargs: object) -> openai.OpenAI:
        if self.ca is not None:
            kwargs["http_client"] = httpx.Client(verify=self.trust())
        return sdk(f"{self.url}/v1", self.key, **kwargs)

    def trust(self) -> ssl.SSLContext | bool:
        """What httpx's `verify=` needs to reach this server."""
        return True if self.ca is None else ssl.create_default_context(cafile=self.ca)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "llmaas", *args], env=self.env, capture_output=True, text=True,
            timeout=120, check=False,
        )


# Two of the bundled models, each on one engine: enough to show the API is the same over HTTPS.
SMALL_CATALOG = """
[[models]]
id = "smollm2-135m-instruct"
family = "smollm2"
owned_by = "huggingface"
capabilities = ["chat", "completions"]
context_length = 8192
max_output_tokens = 2048
license = "Apache-2.0"
engine = { kind = "llama", artifact = "smollm2-135m-instruct-q4_1", parallel = 2 }

[[models]]
id = "all-minilm-l6-v2"
family = "minilm"
owned_by = "sentence-transformers"
capabilities = ["embeddings"]
context_length = 256
dimensions = 384
license = "Apache-2.0"
engine = { kind = "embeddings", artifact = "all-minilm-l6-v2-int8" }
"""


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    yield from _serve(tmp_path_factory.mktemp("llmaas-home"))


HTTPS_ADMIN_TOKEN = "e2e-admin-" + "0123456789abcdef" * 2  # as strong as `serve` demands


@pytest.fixture(scope="session")
def served_https(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """`llmaas serve --tls-cert … --tls-key …` with a self-signed pair, its clients trusting it."""
    home = tmp_path_factory.mktemp("llmaas-https")
    files = make_pair(home / "certs")
    (home / "catalog.toml").write_text(SMALL_CATALOG)
    yield from _serve(home, "--catalog", str(home / "catalog.toml"), "--tls-cert", str(files.cert),
                      "--tls-key", str(files.key), ca=files.cert,
                      env={"LLMAAS_ADMIN_TOKEN": HTTPS_ADMIN_TOKEN})


def _serve(home: Path, *args: str, ca: Path | None = None, env: dict[str, str] | None = None,
           log_path: Path | None = None) -> Iterator[Served]:
    """`llmaas serve` on a free port, with an API key, until the generator is closed; its output (the
    gateway's log, and the engines' at DEBUG) goes to `log_path`, by default serve.log in `home`."""
    port = free_port()
    env = {
        **os.environ,
        "LLMAAS_HOME": str(home),
        "LLMAAS_ENGINE_BASE_PORT": str(port + 1),
        "LLMAAS_KEY_CACHE_TTL_S": "0.5",
        "LLMAAS_HEALTH_INTERVAL_S": "0.5",
        **(env or {}),
    }
    log_path = log_path or home / "serve.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "llmaas", "serve", "--port", str(port), *args],
            env=env, stdout=log, stderr=subprocess.STDOUT,
        )
    url = f"{'https' if ca else 'http'}://127.0.0.1:{port}"
    try:
        trust = True if ca is None else ssl.create_default_context(cafile=ca)
        wait_for(lambda: httpx.get(f"{url}/ready?all=true", timeout=2, verify=trust).status_code == 200,
                 timeout_s=STARTUP_TIMEOUT_S, interval_s=0.5, process=process, log=log_path,
                 what="llmaas serve ready")
        created = subprocess.run(
            [sys.executable, "-m", "llmaas", "keys", "create", "--name", "e2e"],
            env=env, capture_output=True, text=True, check=True, timeout=60,
        )
        key = created.stdout.strip().splitlines()[-1]
        yield Served(url, key, home, env, process, ca)
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


serving = contextlib.contextmanager(_serve)  # for a test that stops the server itself, then looks


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

