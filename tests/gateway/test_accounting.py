"""Admission and settlement through the gateway: limits, budgets, headers and the ledger."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import httpx
import openai
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from llmaas.auth import KeyLimits, KeyService
from llmaas.storage.tables import UsageEventRow
from llmaas.tenancy import TenantService, TierService
from tests.audio import silent_wav
from tests.fakes import USAGE, FakeEngine
from tests.gateway.conftest import Platform

HI = [{"role": "user", "content": "Hi"}]


def events(platform: Platform, key_prefix: str) -> list[UsageEventRow]:
    time.sleep(0.3)  # the ledger writes every 50 ms in these tests
    with Session(platform.database) as session:
        keys = {k.prefix: k.id for k in KeyService(platform.database).list()}
        query = select(UsageEventRow).where(UsageEventRow.key_id == keys[key_prefix])
        return list(session.scalars(query.order_by(UsageEventRow.id)))


def prefix(client: openai.OpenAI) -> str:
    return client.api_key[: len("sk-llmaas-") + 8]


def test_answered_requests_land_in_the_ledger_exactly(platform: Platform, engine: FakeEngine) -> None:
    client = platform.new_key()
    client.chat.completions.create(model="chat-model", messages=HI)  # type: ignore[arg-type]
    list(client.chat.completions.create(model="chat-model", messages=HI, stream=True))  # type: ignore[arg-type]
    client.embeddings.create(model="embed-model", input=["a", "b", "c"])
    rows = events(platform, prefix(client))
    assert [(r.endpoint, r.input_tokens, r.output_tokens) for r in rows] == [
        ("/v1/chat/completions", USAGE["prompt_tokens"], USAGE["completion_tokens"]),
        ("/v1/chat/completions", USAGE["prompt_tokens"], USAGE["completion_tokens"]),
        ("/v1/embeddings", 3, 0),
    ]
    # 1000 EUR per million input tokens is 1e6 nano-euros a token; 2000 EUR for output, 2e6.
    assert rows[0].cost_nano == 7 * 1_000_000 + 3 * 2_000_000
    assert all(r.model_served == r.model_requested for r in rows)


def test_rate_limit_headers_and_429(platform: Platform, engine: FakeEngine) -> None:
    client = platform.new_key(limits=KeyLimits(requests_per_minute=2))
    raw = client.chat.completions.with_raw_response.create(model="chat-model", messages=HI)  # type: ignore[arg-type]
    assert raw.headers["x-ratelimit-limit-requests"] == "2"
    assert raw.headers["x-ratelimit-remaining-requests"] == "1"
    assert raw.headers["x-ratelimit-reset-requests"].endswith("s")
    client.chat.completions.create(model="chat-model", messages=HI)  # type: ignore[arg-type]
    response = httpx.post(f"{platform.url}/v1/chat/completions", json={"model": "chat-model", "messages": HI},
                          headers={"Authorization": f"Bearer {client.api_key}"})
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "rate_limit_exceeded"
    assert 1 <= int(response.headers["retry-after"]) <= 60
    assert "x-should-retry" not in response.headers


def test_a_spent_budget_is_insufficient_quota_and_not_retried(platform: Platform, engine: FakeEngine) -> None:
    # The worst case of one request (512 output tokens at 2000 EUR per million) is over 1 EUR.
    client = platform.new_key(limits=KeyLimits(monthly_budget_nano=100_000_000))
    response = httpx.post(f"{platform.url}/v1/chat/completions", json={"model": "chat-model", "messages": HI},
                          headers={"Authorization": f"Bearer {client.api_key}"})
    assert response.status_code == 429
    error = response.json()["error"]
    assert error["code"] == "insufficient_quota" and "key budget" in error["message"]
    assert response.headers["x-should-retry"] == "false"
    # A smaller answer fits: max_tokens lowers the worst case.
    client.chat.completions.create(model="chat-model", messages=HI, max_tokens=2)  # type: ignore[arg-type]


def test_the_tenant_cap_and_prepaid_credit_are_named(platform: Platform, engine: FakeEngine) -> None:
    TierService(platform.database).create(name="tiny", monthly_cap_nano=1_000)
    TenantService(platform.database).create(name="small-co", tier="tiny")
    with pytest.raises(openai.RateLimitError, match="tenant monthly cap"):
        platform.new_key(tenant="small-co").chat.completions.create(model="chat-model", messages=HI)  # type: ignore[arg-type]
    TenantService(platform.database).create(name="prepaid-co", tier="custom", prepaid_credit_nano=1_000)
    with pytest.raises(openai.RateLimitError, match="prepaid credit"):
        platform.new_key(tenant="prepaid-co").chat.completions.create(model="chat-model", messages=HI)  # type: ignore[arg-type]


def test_a_key_limited_to_some_models(platform: Platform, engine: FakeEngine) -> None:
    client = platform.new_key(allowed_models=["embed-model"])
    with pytest.raises(openai.PermissionDeniedError) as caught:
        client.chat.completions.create(model="chat-model", messages=HI)  # type: ignore[arg-type]
    assert caught.value.body["param"] == "model"  # type: ignore[index]
    client.embeddings.create(model="embed-model", input="x")


def test_an_expired_key_is_401(platform: Platform) -> None:
    client = platform.new_key(expires_at=datetime.now(UTC) - timedelta(minutes=1))
    with pytest.raises(openai.AuthenticationError):
        client.models.list()


def test_a_failed_request_releases_its_reservation(platform: Platform, engine: FakeEngine) -> None:
    client = platform.new_key(limits=KeyLimits(monthly_budget_nano=1_100_000_000))
    engine.mode = "server_error"
    for _ in range(2):  # each would hold > 1 EUR if failures kept their reservation
        with pytest.raises(openai.InternalServerError):
            client.chat.completions.create(model="chat-model", messages=HI)  # type: ignore[arg-type]
    engine.mode = "ok"
    client.chat.completions.create(model="chat-model", messages=HI)  # type: ignore[arg-type]
    assert len(events(platform, prefix(client))) == 1


def test_a_disconnected_stream_is_billed_for_what_was_generated(
    platform: Platform, engine: FakeEngine
) -> None:
    client = platform.new_key()
    engine.mode = "die_mid_stream"
    with pytest.raises(openai.APIError):
        list(client.chat.completions.create(model="chat-model", messages=HI, stream=True))  # type: ignore[arg-type]
    [row] = events(platform, prefix(client))
    assert (row.status, row.output_tokens) == (499, 2) and row.input_tokens > 0 and row.cost_nano > 0


def test_audio_bills_every_started_minute(platform: Platform, engine: FakeEngine) -> None:
    client = platform.new_key()
    client.audio.transcriptions.create(model="speech-model", file=("a.wav", silent_wav(61, rate=100)))
    [row] = events(platform, prefix(client))
    assert row.billed_minutes == 2 and row.audio_seconds == pytest.approx(61)
    assert row.cost_nano == 2 * 1_000_000_000  # 1 EUR per started minute


def test_a_transcription_the_budget_cannot_cover_is_refused(platform: Platform, engine: FakeEngine) -> None:
    client = platform.new_key(limits=KeyLimits(monthly_budget_nano=1_500_000_000))
    before = len(engine.forms)
    with pytest.raises(openai.RateLimitError, match="key budget"):
        client.audio.transcriptions.create(model="speech-model", file=("a.wav", silent_wav(61, rate=100)))
    assert len(engine.forms) == before
    client.audio.transcriptions.create(model="speech-model", file=("a.wav", silent_wav(59, rate=100)))
