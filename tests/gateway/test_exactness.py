"""The ledger against what clients received: 1,000 mixed requests, token for token and minute for
minute; and tenant isolation of every usage endpoint. Runs on SQLite and PostgreSQL (the `platform`
fixture)."""

from __future__ import annotations

import asyncio
import math
import random
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from llmaas.app import create_app
from llmaas.auth import KeyLimits, KeyService
from llmaas.catalog import Catalog
from llmaas.settings import Settings
from llmaas.storage.tables import UsageEventRow
from llmaas.tenancy import TenantService
from tests.audio import silent_wav
from tests.clients import sdk
from tests.fakes import FakeEngine
from tests.gateway.conftest import Platform
from tests.servers import serve

NANO_PER_INPUT_TOKEN = 1_000_000  # chat-model: 1000 EUR per million input tokens
NANO_PER_OUTPUT_TOKEN = 2_000_000  # and 2000 EUR per million output tokens
NANO_PER_MINUTE = 1_000_000_000  # speech-model: 1 EUR per started minute; embed-model is free
CHAT, COMPLETIONS = "/v1/chat/completions", "/v1/completions"
EMBEDDINGS, AUDIO = "/v1/embeddings", "/v1/audio/transcriptions"
AUDIO_SECONDS = [1, 30, 59, 60, 61, 90, 119, 120, 121]  # 1, 1, 1, 1, 2, 2, 2, 2, 3 started minutes


def fake_usage(body: dict[str, Any]) -> dict[str, int]:
    """What the fake engine reports, varying with each request (so totals are not a multiple of one
    constant): the prompt's length in characters, and exactly max_tokens out."""
    if "messages" in body:
        prompt = "".join(str(message["content"]) for message in body["messages"])
    else:
        prompt = str(body["prompt"])
    prompt_tokens, completion_tokens = 3 + len(prompt), int(body["max_tokens"])
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}


@pytest.fixture
def varied(engine: FakeEngine) -> Iterator[FakeEngine]:
    engine.usage_for = fake_usage
    try:
        yield engine
    finally:
        engine.usage_for = None


@dataclass
class Tally:
    """One endpoint's totals: as the clients saw them, or as the ledger holds them."""

    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    billed_minutes: int = 0
    audio_seconds: float = 0.0
    cost_nano: int = 0

    def add(self, endpoint: str, *, input_tokens: int = 0, output_tokens: int = 0,
            audio_seconds: float = 0) -> None:
        minutes = math.ceil(audio_seconds / 60)
        self.requests += 1
        self.input_tokens += input_tokens
        self.output_tokens += output_tokens
        self.audio_seconds += audio_seconds
        self.billed_minutes += minutes
        if endpoint in (CHAT, COMPLETIONS, EMBEDDINGS):  # embed-model has the same input price
            self.cost_nano += input_tokens * NANO_PER_INPUT_TOKEN + output_tokens * NANO_PER_OUTPUT_TOKEN
        elif endpoint == AUDIO:
            self.cost_nano += minutes * NANO_PER_MINUTE


def ledger_by_endpoint(database: Engine, key_id: int) -> dict[str, Tally]:
    e = UsageEventRow
    query = (
        select(e.endpoint, func.count(), func.sum(e.input_tokens), func.sum(e.output_tokens),
               func.sum(e.billed_minutes), func.sum(e.audio_seconds), func.sum(e.cost_nano))
        .where(e.key_id == key_id).group_by(e.endpoint)
    )
    with Session(database) as session:
        return {endpoint: Tally(int(n), int(i), int(o), int(m), float(s), int(c))
                for endpoint, n, i, o, m, s, c in session.execute(query)}


def ledger_count(database: Engine, key_id: int) -> int:
    with Session(database) as session:
        query = select(func.count()).select_from(UsageEventRow).where(UsageEventRow.key_id == key_id)
        return int(session.scalar(query) or 0)


def wait_for_ledger(database: Engine, key_id: int, count: int, *, timeout_s: float = 30) -> None:
    """The ledger writes every 50 ms in these tests; wait (bounded) for every row to land."""
    deadline = time.monotonic() + timeout_s
    while ledger_count(database, key_id) < count and time.monotonic() < deadline:
        time.sleep(0.05)


def user(text: str) -> list[ChatCompletionMessageParam]:
    return [{"role": "user", "content": text}]


# -- 3. exactness --------------------------------------------------------------------------------

KINDS = ["chat"] * 250 + ["stream_usage"] * 200 + ["stream_plain"] * 150 + ["completion"] * 150 + [
    "embeddings"] * 150 + ["transcription"] * 100


async def one(client: openai.AsyncOpenAI, kind: str, rng: random.Random, seen: dict[str, Tally]) -> None:
    """Send one request and add to `seen` the usage the client received."""
    text = "x" * rng.randint(1, 40)
    max_tokens = rng.randint(1, 64)
    if kind == "chat":
        reply = await client.chat.completions.create(model="chat-model", messages=user(text),
                                                     max_tokens=max_tokens)
        assert reply.usage is not None
        seen[CHAT].add(CHAT, input_tokens=reply.usage.prompt_tokens,
                       output_tokens=reply.usage.completion_tokens)
    elif kind == "stream_usage":
        stream = await client.chat.completions.create(
            model="chat-model", messages=user(text), max_tokens=max_tokens, stream=True,
            stream_options={"include_usage": True})
        usages = [chunk.usage async for chunk in stream if chunk.usage is not None]
        assert len(usages) == 1, "one usage chunk, at the end"
        seen[CHAT].add(CHAT, input_tokens=usages[0].prompt_tokens,
                       output_tokens=usages[0].completion_tokens)
    elif kind == "stream_plain":
        stream = await client.chat.completions.create(
            model="chat-model", messages=user(text), max_tokens=max_tokens, stream=True)
        chunks = [chunk async for chunk in stream]
        assert chunks and all(chunk.usage is None for chunk in chunks), "no usage was asked for"
        # The client got no usage; the engine reported fake_usage of what the gateway forwarded.
        usage = fake_usage({"messages": user(text), "max_tokens": max_tokens})
        seen[CHAT].add(CHAT, input_tokens=usage["prompt_tokens"], output_tokens=usage["completion_tokens"])
    elif kind == "completion":
        completion = await client.completions.create(model="chat-model", prompt=text, max_tokens=max_tokens)
        assert completion.usage is not None
        seen[COMPLETIONS].add(COMPLETIONS, input_tokens=completion.usage.prompt_tokens,
                              output_tokens=completion.usage.completion_tokens)
    elif kind == "embeddings":
        texts = [f"text {i}" for i in range(rng.randint(1, 6))]
        embedded = await client.embeddings.create(model="embed-model", input=texts)
        assert len(embedded.data) == len(texts)
        seen[EMBEDDINGS].add(EMBEDDINGS, input_tokens=embedded.usage.prompt_tokens)
    else:
        seconds = rng.choice(AUDIO_SECONDS)
        transcript = await client.audio.transcriptions.create(
            model="speech-model", file=("a.wav", silent_wav(seconds, rate=100)))
        assert transcript.text == "hello world"
        seen[AUDIO].add(AUDIO, audio_seconds=seconds)  # what the client sent is what it is billed


def test_the_ledger_equals_what_1000_mixed_requests_reported(platform: Platform, varied: FakeEngine) -> None:
    started = time.monotonic()
    issued = KeyService(platform.database).create(name="exactness")
    rng = random.Random(1000)
    kinds = KINDS.copy()
    rng.shuffle(kinds)
    seen = {endpoint: Tally() for endpoint in (CHAT, COMPLETIONS, EMBEDDINGS, AUDIO)}

    async def run() -> None:
        client = openai.AsyncOpenAI(base_url=f"{platform.url}/v1", api_key=issued.secret, max_retries=0,
                                    timeout=60)
        queue = iter(kinds)

        async def worker(seed: int) -> None:
            own = random.Random(seed)  # request contents; which worker sends which kind is timing
            for kind in queue:
                await one(client, kind, own, seen)

        try:
            await asyncio.gather(*(worker(seed) for seed in range(16)))  # 16 requests in flight
        finally:
            await client.close()

    asyncio.run(run())
    sent = time.monotonic()
    assert sum(t.requests for t in seen.values()) == 1000

    wait_for_ledger(platform.database, issued.key.id, 1000)
    ledger = ledger_by_endpoint(platform.database, issued.key.id)
    for endpoint, expected in seen.items():
        held = ledger[endpoint]
        assert held.audio_seconds == pytest.approx(expected.audio_seconds, abs=1e-6)
        held.audio_seconds = expected.audio_seconds
        assert held == expected, endpoint
    assert set(ledger) == set(seen)
    with Session(platform.database) as session:
        statuses = session.scalars(select(UsageEventRow.status).where(UsageEventRow.key_id == issued.key.id))
        assert Counter(statuses) == {200: 1000}

    # The key's own view agrees, model by model.
    own = httpx.get(f"{platform.url}/v1/usage", headers={"Authorization": f"Bearer {issued.secret}"}).json()
    by_model = {row["model"]: row for row in own["data"]}
    assert by_model["chat-model"]["requests"] == seen[CHAT].requests + seen[COMPLETIONS].requests
    assert by_model["chat-model"]["input_tokens"] == seen[CHAT].input_tokens + seen[COMPLETIONS].input_tokens
    assert by_model["chat-model"]["output_tokens"] == (
        seen[CHAT].output_tokens + seen[COMPLETIONS].output_tokens)
    assert by_model["embed-model"]["input_tokens"] == seen[EMBEDDINGS].input_tokens
    assert by_model["speech-model"]["billed_minutes"] == seen[AUDIO].billed_minutes
    total = sum(t.cost_nano for t in seen.values())
    assert own["total_cost_eur"] == pytest.approx(total / 1e9, abs=1e-9)
    print(f"\nexactness: 1000 requests in {sent - started:.1f} s, ledger complete "
          f"{time.monotonic() - sent:.2f} s later; "
          + ", ".join(f"{e}: {t.requests} req {t.input_tokens}/{t.output_tokens} tok "
                      f"{t.billed_minutes} min" for e, t in seen.items())
          + f"; {total / 1e9:.6f} EUR")


# -- 4. tenant isolation -------------------------------------------------------------------------

ADMIN_TOKEN = "isolation-admin-token-0123456789-abcdef"
B_TEXTS = 1789  # B's distinctive numbers: none may show up anywhere A can look
B_AUDIO = 125  # four of these: 500 s, 12 minutes, 12 EUR
B_BUDGET_NANO = 777_000_000_000


def numbers(value: object) -> set[float]:
    """Every number in a JSON document."""
    if isinstance(value, bool):
        return set()
    if isinstance(value, int | float):
        return {float(value)}
    if isinstance(value, dict):
        return set().union(*(numbers(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(numbers(v) for v in value)) if value else set()
    return set()


@dataclass
class Party:
    tenant: str
    secrets: list[str]
    prefixes: list[str]


def test_a_tenant_sees_nothing_of_another(platform: Platform, engine: FakeEngine, tmp_path: Path) -> None:
    database = platform.database
    run = uuid.uuid4().hex[:8]
    tenants = TenantService(database)
    keys = KeyService(database)
    a = Party(f"alpha-{run}", [], [])
    b = Party(f"beta-{run}", [], [])
    tenants.create(name=a.tenant, tier="custom")
    tenants.create(name=b.tenant, tier="custom", prepaid_credit_nano=900_000_000_000)
    for party, budgets in ((a, [250_000_000_000, None]), (b, [B_BUDGET_NANO])):
        for index, budget in enumerate(budgets):
            issued = keys.create(name=f"{party.tenant}-{index}", tenant=party.tenant,
                                 limits=KeyLimits(monthly_budget_nano=budget))
            party.secrets.append(issued.secret)
            party.prefixes.append(issued.key.prefix)
    a1, a2, b1 = (sdk(f"{platform.url}/v1", secret)
                  for secret in [*a.secrets, *b.secrets])

    for _ in range(3):
        a1.chat.completions.create(model="chat-model", messages=user("Hi"))
    for _ in range(2):
        a2.completions.create(model="chat-model", prompt="Hello")
    b1.embeddings.create(model="embed-model", input=["b"] * B_TEXTS)
    for _ in range(4):
        b1.audio.transcriptions.create(model="speech-model", file=("b.wav", silent_wav(B_AUDIO, rate=100)))
    key_ids = {issued.prefix: issued.id for issued in keys.list()}
    wait_for_ledger(database, key_ids[a.prefixes[0]], 3)
    wait_for_ledger(database, key_ids[a.prefixes[1]], 2)
    wait_for_ledger(database, key_ids[b.prefixes[0]], 5)

    b_strings = [b.tenant, *b.prefixes, "embed-model", "speech-model"]
    b_numbers = {float(B_TEXTS), 4.0 * B_AUDIO, 12.0, B_BUDGET_NANO / 1e9, 900.0}

    def assert_nothing_of_b(response: httpx.Response) -> None:
        for secret in b.secrets:
            assert secret not in response.text
        for text in b_strings:
            assert text not in response.text, f"{text} leaked into {response.request.url}"
        if response.headers.get("content-type", "").startswith("application/json"):
            leaked = numbers(response.json()) & b_numbers
            assert not leaked, f"B's numbers {leaked} leaked into {response.request.url}"

    # -- GET /v1/usage: a key's own usage, and nothing else, whatever is asked -------------------
    def own(secret: str, params: dict[str, str] | None = None,
            headers: dict[str, str] | None = None) -> httpx.Response:
        return httpx.get(f"{platform.url}/v1/usage", params=params,
                         headers={"Authorization": f"Bearer {secret}", **(headers or {})})

    baseline = own(a.secrets[0])
    assert baseline.status_code == 200
    body = baseline.json()
    assert body["key"] == a.prefixes[0]
    assert body["data"] == [{"model": "chat-model", "requests": 3, "input_tokens": 21, "output_tokens": 9,
                             "audio_seconds": 0.0, "billed_minutes": 0, "cost_eur": 0.039}]
    assert a.prefixes[1] not in baseline.text, "not even a sibling key's usage"
    assert_nothing_of_b(baseline)

    b_tenant_id = tenants.get(b.tenant).id
    tries: list[dict[str, str]] = [
        {"key": b.prefixes[0]}, {"key": a.prefixes[1]}, {"tenant": b.tenant}, {"tenant_id": str(b_tenant_id)},
        {"key_id": str(key_ids[b.prefixes[0]])}, {"model": "embed-model"}, {"model": "speech-model"},
        {"group_by": "key"}, {"group_by": "day"}, {"from": "2000-01-01"}, {"since": "2000-01-01"},
        {"all": "true"}, {"scope": "all"}, {"tenant": b.tenant, "key": b.prefixes[0], "group_by": "key"},
    ]
    for params in tries:
        response = own(a.secrets[0], params)
        assert response.status_code == 200 or 400 <= response.status_code < 500, params
        if response.status_code == 200:
            assert response.json() == body, f"{params} changed what /v1/usage shows"
        assert_nothing_of_b(response)
    for headers in ({"OpenAI-Organization": b.tenant}, {"OpenAI-Project": b.tenant},
                    {"x-tenant": b.tenant}, {"x-llmaas-key": b.prefixes[0]}):
        response = own(a.secrets[0], headers=headers)
        assert response.status_code == 200 and response.json() == body, headers
    # A's key on the admin API: refused, and nothing of B in the refusal.
    for path in ("/admin/api/usage", f"/admin/api/usage?tenant={b.tenant}", "/admin/api/usage.csv",
                 f"/admin/api/keys?tenant={b.tenant}", "/admin/api/tenants"):
        response = httpx.get(f"{platform.url}{path}", headers={"Authorization": f"Bearer {a.secrets[0]}"})
        assert response.status_code in (401, 403), path
        assert_nothing_of_b(response)

    # -- the admin API, filtered to tenant A (a second gateway on the same database) ------------
    settings = Settings(home=tmp_path, admin_token=ADMIN_TOKEN)
    with serve(create_app(settings, catalog=Catalog([]), database=database)) as admin_url:

        def admin(path: str, **params: str) -> httpx.Response:
            return httpx.get(f"{admin_url}/admin/api{path}", params=params,
                             headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})

        by_key = admin("/usage", tenant=a.tenant, group_by="key")
        assert by_key.status_code == 200
        assert {g["group"]: g["requests"] for g in by_key.json()["data"]} == {
            a.prefixes[0]: 3, a.prefixes[1]: 2}
        assert_nothing_of_b(by_key)
        by_model = admin("/usage", tenant=a.tenant, group_by="model")
        assert [g["group"] for g in by_model.json()["data"]] == ["chat-model"]
        assert_nothing_of_b(by_model)
        assert_nothing_of_b(admin("/usage", tenant=a.tenant, group_by="day"))
        assert_nothing_of_b(admin("/usage.csv", tenant=a.tenant, group_by="key"))
        crossed = admin("/usage", tenant=a.tenant, key=b.prefixes[0], group_by="key")
        assert crossed.status_code == 200 and crossed.json()["data"] == [], "A's filter holds with B's key"
        # Sanity: B's usage is there for whoever may see it, so its absence above means something.
        b_view = admin("/usage", tenant=b.tenant, group_by="model").json()
        assert {g["group"]: (g["input_tokens"], g["billed_minutes"]) for g in b_view["data"]} == {
            "embed-model": (B_TEXTS, 0), "speech-model": (0, 12)}
        assert numbers(b_view) & b_numbers == {float(B_TEXTS), 4.0 * B_AUDIO, 12.0}
        assert own(b.secrets[0]).json()["budgets"][0]["limit_eur"] == B_BUDGET_NANO / 1e9
