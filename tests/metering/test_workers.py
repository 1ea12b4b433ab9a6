"""`llmaas serve --workers N`: N gateway processes on one port whose limits hold across them, through
the real Redis the metering tests start; without Redis, more than one worker is refused."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
from collections import Counter
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from llmaas.auth import KeyLimits, KeyService
from llmaas.cli import app
from tests.metering.test_replicas import (  # noqa: F401 - fixtures
    MODEL,
    STARTUP_TIMEOUT_S,
    Gateway,
    catalog_file,
    clean_redis_url,
    fake_engine,
    gateway_env,
)
from tests.servers import free_port, wait_for

RPM = 5
PID = re.compile(r"^llmaas_worker_pid (\S+)$", re.MULTILINE)
FROZEN = re.compile(r"^llmaas_gc_frozen_objects (\S+)$", re.MULTILINE)
ANSWERED = re.compile(r'^llmaas_requests_total\{endpoint="/v1/chat/completions",model="chat-model",'
                      r'status="(\d+)"\} (\S+)$', re.MULTILINE)


def scrape(url: str) -> tuple[int, Counter[int]]:
    """On a fresh connection (the kernel picks a worker per connection): the answering worker's PID
    and the chat answers it gave, by status; "not yet" (an HTTP error) until that worker has settled
    its heap, as `llmaas serve` does once serving."""
    text = httpx.get(f"{url}/metrics", headers={"Connection": "close"}).text
    match = PID.search(text)
    assert match is not None, "no llmaas_worker_pid in /metrics"
    frozen = FROZEN.search(text)
    if frozen is None or float(frozen.group(1)) == 0:  # sampled 10 times a second once serving
        raise httpx.HTTPError("the worker's heap is not settled yet")
    return int(float(match.group(1))), Counter(
        {int(status): int(float(count)) for status, count in ANSWERED.findall(text)})


def until_both_workers_scraped(gateway: Gateway, *, timeout_s: float) -> dict[int, Counter[int]]:
    """Each worker's PID and chat answers, scraping on fresh connections until two PIDs answered."""
    by_worker: dict[int, Counter[int]] = {}

    def both() -> bool:
        pid, answers = scrape(gateway.url)
        by_worker[pid] = answers
        return len(by_worker) == 2

    wait_for(both, timeout_s=timeout_s, interval_s=0.02, process=gateway.process, log=gateway.log,
             what="a scrape of each of two workers")
    return by_worker


def test_more_than_one_worker_needs_redis(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMAAS_HOME", str(tmp_path))
    monkeypatch.delenv("LLMAAS_REDIS_URL", raising=False)
    monkeypatch.setenv("COLUMNS", "80")
    result = CliRunner().invoke(app, ["serve", "--workers", "2", "--no-embedded"])
    assert result.exit_code == 1, result.output
    assert result.output.strip() == (
        "Not started: 2 workers need Redis (LLMAAS_REDIS_URL): without it each worker process would hold "
        "rate limits and budgets of its own, and a key could spend its budget once per worker. Configure "
        "redis_url, or serve with one worker.")
    assert not (tmp_path / "llmaas.pid").exists()


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_two_workers_serve_one_port_and_share_a_key_rate_limit(
    tmp_path: Path, database: Engine, catalog_file: Path, clean_redis_url: str  # noqa: F811
) -> None:
    key = KeyService(database).create(name="w", limits=KeyLimits(requests_per_minute=RPM))
    env = gateway_env(tmp_path / "home", database, flush_interval_s=0.2, redis_url=clean_redis_url)
    port, log = free_port(), tmp_path / "serve.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "llmaas", "serve", "--no-embedded", "--catalog", str(catalog_file),
             "--port", str(port), "--workers", "2"], env=env, stdout=out, stderr=subprocess.STDOUT)
    gateway = Gateway(f"http://127.0.0.1:{port}", process, log)
    try:
        # Both workers up: scrapes on fresh connections reach two PIDs, neither the parent's.
        assert process.pid not in until_both_workers_scraped(gateway, timeout_s=STARTUP_TIMEOUT_S)
        statuses = Counter(
            httpx.post(f"{gateway.url}/v1/chat/completions", headers={
                "Authorization": f"Bearer {key.secret}", "Connection": "close"},
                json={"model": MODEL, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4},
            ).status_code
            for _ in range(4 * RPM))
        # One limit for the key, whichever worker answered: RPM requests in the minute, not RPM each.
        assert statuses == {200: RPM, 429: 3 * RPM}
        by_worker = until_both_workers_scraped(gateway, timeout_s=30)
        assert all(sum(answers.values()) > 0 for answers in by_worker.values()), (
            f"both workers answered chat requests: {by_worker}")
        assert sum(by_worker.values(), Counter()) == statuses
        assert gateway.stop(signal.SIGTERM) == 0
        assert "exited" not in log.read_text()  # no worker died on the way
    finally:
        gateway.stop(signal.SIGKILL)


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_workers_that_cannot_start_stop_the_whole_with_an_error(
    tmp_path: Path, database: Engine, catalog_file: Path, clean_redis_url: str  # noqa: F811
) -> None:
    env = gateway_env(tmp_path / "home", database, flush_interval_s=1, redis_url=clean_redis_url)
    with socket.socket() as taken:  # listening without SO_REUSEPORT: no worker can share the port
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        served = subprocess.run(
            [sys.executable, "-m", "llmaas", "serve", "--no-embedded", "--catalog", str(catalog_file),
             "--port", str(port), "--workers", "2"], env=env, capture_output=True, text=True,
            timeout=STARTUP_TIMEOUT_S)
    assert served.returncode == 1
    assert re.search(r"gateway worker \d+ exited with code 1 while starting: stopping", served.stderr)
    assert "Address already in use" in served.stderr  # the worker's own error, in the log


def test_zero_workers_is_refused() -> None:
    result = CliRunner().invoke(app, ["serve", "--workers", "0"])
    assert result.exit_code == 2
    assert "--workers" in result.output
