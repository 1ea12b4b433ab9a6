"""The platform around the engines: keys, model list, readiness, engine restarts."""

from __future__ import annotations

import os
import signal
import stat
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import openai
import pytest

from tests.clients import sdk
from tests.e2e.conftest import Served, children

pytestmark = pytest.mark.e2e


def test_model_list_shows_the_catalog(served: Served) -> None:
    models = {m.id: m.model_extra or {} for m in served.client().models.list()}
    assert {"qwen2.5-coder-0.5b-instruct", "gemma-3-270m", "multilingual-e5-small",
            "whisper-base"} <= set(models)
    assert models["qwen2.5-coder-0.5b-instruct"]["context_length"] == 8192
    assert "tools" in models["qwen2.5-coder-0.5b-instruct"]["capabilities"]
    assert all(extra["ready"] for extra in models.values())


def test_key_create_prints_the_key_alone_on_the_last_line(served: Served) -> None:
    created = served.cli("keys", "create", "--name", "second-app")
    assert created.returncode == 0
    secret = created.stdout.strip().splitlines()[-1]
    assert secret.startswith("sk-llmaas-") and " " not in secret
    listing = served.cli("keys", "list")
    assert "second-app" in listing.stdout and secret not in listing.stdout
    assert secret not in (served.home / "llmaas.db").read_bytes().decode("latin-1")


def test_the_platforms_state_is_private_to_its_user(served: Served) -> None:
    written = {path.name: stat.S_IMODE(path.stat().st_mode) for path in served.home.iterdir()
               if path.name.startswith("llmaas.")}
    assert {"llmaas.db", "llmaas.pid"} <= set(written)
    assert set(written.values()) == {0o600}, written
    assert stat.S_IMODE(served.home.stat().st_mode) == 0o700


def test_the_engines_answer_only_the_gateway(served: Served) -> None:
    base = int(served.env["LLMAAS_ENGINE_BASE_PORT"])
    statuses = []
    for port in range(base, base + 16):  # the bundled catalog's 8 engines, on the first free ports
        try:
            statuses.append(httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=5).status_code)
        except httpx.TransportError:
            continue
    assert statuses.count(401) >= 8 and 200 not in statuses, statuses


def test_a_revoked_key_stops_working(served: Served) -> None:
    secret = served.cli("keys", "create", "--name", "short-lived").stdout.strip().splitlines()[-1]
    client = sdk(f"{served.url}/v1", secret)
    assert client.models.list().data
    prefix = secret[: len("sk-llmaas-") + 8]
    assert served.cli("keys", "revoke", prefix).returncode == 0
    time.sleep(1.0)  # the gateway's key cache lives 0.5 s in this test set-up
    with pytest.raises(openai.AuthenticationError):
        client.models.list()


def engine_pids(served: Served, model_id: str) -> list[int]:
    """The engine processes `served` started for the model (other servers may run on this machine)."""
    pids = []
    for pid in children(served.process.pid):
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        if b"--alias" in argv and model_id.encode() in argv:
            pids.append(pid)
    return pids


def test_killing_one_engine_replica_under_load_fails_no_request(served: Served) -> None:
    model = "smollm2-135m-instruct"  # two replicas in the bundled catalog
    first, second = engine_pids(served, model)
    outcomes: list[tuple[float, str]] = []  # when each request ended, and how
    stop = threading.Event()

    def load() -> None:
        with served.client(timeout=60) as client:
            while not stop.is_set():
                try:
                    client.chat.completions.create(
                        model=model, messages=[{"role": "user", "content": "Count to three."}], max_tokens=8)
                    outcomes.append((time.monotonic(), "ok"))
                except openai.APIError as error:
                    outcomes.append((time.monotonic(), type(error).__name__))

    def served_since(moment: float) -> int:
        return sum(1 for ended, outcome in outcomes if ended > moment and outcome == "ok")

    def wait_until(done: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + 90  # a model's pace on a shared CPU: counted in answers, not seconds
        while not done():
            assert time.monotonic() < deadline, what
            time.sleep(0.1)

    workers = [threading.Thread(target=load) for _ in range(4)]
    for worker in workers:
        worker.start()
    try:
        wait_until(lambda: served_since(0) >= 4, "no answers before the kill")  # requests in flight on both
        killed = time.monotonic()
        os.kill(first, signal.SIGKILL)
        wait_until(lambda: served_since(killed) >= 8, "too few answers after the kill")
    finally:
        stop.set()
        for worker in workers:
            worker.join(60)
    # A request cut off on the dead replica had sent nothing to its client yet: it is retried on
    # the other one. None fails, during the kill or after.
    assert [outcome for _, outcome in outcomes if outcome != "ok"] == []
    deadline = time.monotonic() + 60
    while len(engine_pids(served, model)) < 2:  # the supervisor restarts the dead replica
        assert time.monotonic() < deadline, "the killed replica was not restarted"
        time.sleep(0.2)
    assert second in engine_pids(served, model)


def test_usage_is_metered_in_real_time(served: Served) -> None:
    assert served.cli("tenants", "create", "e2e-co", "--tier", "discovery").returncode == 0
    created = served.cli("keys", "create", "--tenant", "e2e-co", "--name", "metered")
    secret = created.stdout.strip().splitlines()[-1]
    client = sdk(f"{served.url}/v1", secret)
    raw = client.chat.completions.with_raw_response.create(
        model="smollm2-135m-instruct", messages=[{"role": "user", "content": "Hi"}], max_tokens=5
    )
    reply = raw.parse()
    assert raw.headers["x-ratelimit-limit-requests"] == "20"  # the discovery tier
    assert raw.headers["x-request-id"]
    assert reply.usage is not None
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        usage = httpx.get(f"{served.url}/v1/usage", headers={"Authorization": f"Bearer {secret}"}).json()
        if usage["data"]:
            break
        time.sleep(0.3)
    [row] = usage["data"]
    assert (row["model"], row["input_tokens"], row["output_tokens"]) == (
        "smollm2-135m-instruct", reply.usage.prompt_tokens, reply.usage.completion_tokens)
    # 1.8 EUR per million input tokens, 8 per million output tokens.
    expected = (reply.usage.prompt_tokens * 1.8 + reply.usage.completion_tokens * 8) / 1e6
    assert row["cost_eur"] == pytest.approx(expected)
    [cap] = [b for b in usage["budgets"] if b["type"] == "tenant_monthly_cap"]
    assert cap["limit_eur"] == 10.0 and cap["remaining_eur"] == pytest.approx(10.0 - expected)
