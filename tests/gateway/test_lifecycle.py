"""Lifecycle through the gateway: deprecation headers, 410 after retirement, redirects, aliases."""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime

import openai
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from llmaas.storage.tables import UsageEventRow
from tests.fakes import FakeEngine
from tests.gateway.conftest import Platform

HI = [{"role": "user", "content": "Hi"}]


def test_a_deprecated_model_answers_with_notice_headers(platform: Platform, engine: FakeEngine) -> None:
    raw = platform.client.chat.completions.with_raw_response.create(model="old-model", messages=HI)  # type: ignore[arg-type]
    assert raw.parse().choices[0].message.content == "Hello there"  # the SDK still works
    assert raw.headers["deprecation"] == "@1788220800"  # 2026-09-01, RFC 9745
    assert parsedate_to_datetime(raw.headers["sunset"]).date().isoformat() == "2036-06-01"
    assert raw.headers["link"] == '</v1/models/chat-model>; rel="successor-version"'


def test_an_active_model_has_no_notice(platform: Platform, engine: FakeEngine) -> None:
    raw = platform.client.chat.completions.with_raw_response.create(model="chat-model", messages=HI)  # type: ignore[arg-type]
    assert "deprecation" not in raw.headers and "sunset" not in raw.headers


def test_a_retired_model_is_gone_and_names_its_successor(platform: Platform, engine: FakeEngine) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        platform.client.chat.completions.create(model="gone-model", messages=HI)  # type: ignore[arg-type]
    assert caught.value.status_code == 410
    assert caught.value.body["code"] == "model_retired"  # type: ignore[index]
    assert "chat-model" in caught.value.message
    assert engine.requests == []


def test_a_redirected_model_is_answered_by_its_successor(platform: Platform, engine: FakeEngine) -> None:
    raw = platform.client.chat.completions.with_raw_response.create(model="moved-model", messages=HI)  # type: ignore[arg-type]
    assert raw.parse().model == "chat-model"  # the response says which model served it
    assert raw.headers["link"] == '</v1/models/chat-model>; rel="successor-version"'
    time.sleep(0.3)
    with Session(platform.database) as session:
        row = session.scalars(select(UsageEventRow).order_by(UsageEventRow.id.desc())).first()
    assert row is not None and (row.model_requested, row.model_served) == ("moved-model", "chat-model")


def test_an_alias_reaches_its_model(platform: Platform, engine: FakeEngine) -> None:
    reply = platform.client.chat.completions.create(model="chat-default", messages=HI)  # type: ignore[arg-type]
    assert reply.model == "chat-model"
    model = platform.client.models.retrieve("chat-default")
    assert model.id == "chat-model" and (model.model_extra or {})["aliases"] == ["chat-default"]


def test_the_model_list_shows_lifecycle(platform: Platform) -> None:
    models = {m.id: m.model_extra or {} for m in platform.client.models.list()}
    assert models["old-model"]["status"] == "deprecated"
    assert (models["gone-model"]["status"], models["gone-model"]["successor"]) == ("retired", "chat-model")
    assert models["chat-model"]["status"] == "active" and models["old-model"]["retires_at"] == "2036-06-01"
