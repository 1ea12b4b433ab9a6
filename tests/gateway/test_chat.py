"""Chat and completions through the gateway, against a fake engine."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest

from tests.fakes import USAGE, FakeEngine
from tests.gateway.conftest import Platform

PNG = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"


def test_chat_answers_under_the_catalog_name(platform: Platform, engine: FakeEngine) -> None:
    reply = platform.client.chat.completions.create(
        model="chat-model", messages=[{"role": "user", "content": "Hi"}], max_tokens=5
    )
    assert reply.choices[0].message.content == "Hello there"
    assert reply.model == "chat-model"
    assert reply.usage is not None and reply.usage.total_tokens == USAGE["total_tokens"]
    assert engine.requests[-1]["model"] == "upstream-name"
    assert engine.requests[-1]["max_tokens"] == 5


def test_extension_fields_and_max_completion_tokens_are_forwarded(
    platform: Platform, engine: FakeEngine
) -> None:
    platform.client.chat.completions.create(
        model="chat-model", messages=[{"role": "user", "content": "Hi"}],
        max_completion_tokens=9, seed=3, extra_body={"top_k": 20},
    )
    sent = engine.requests[-1]
    assert (sent["max_tokens"], sent["seed"], sent["top_k"]) == (9, 3, 20)


def test_default_output_cap_is_the_catalog_maximum(platform: Platform, engine: FakeEngine) -> None:
    platform.client.chat.completions.create(model="chat-model", messages=[{"role": "user", "content": "x"}])
    assert engine.requests[-1]["max_tokens"] == 512


def test_stream_without_usage_hides_the_usage_chunk(platform: Platform, engine: FakeEngine) -> None:
    chunks = list(platform.client.chat.completions.create(
        model="chat-model", messages=[{"role": "user", "content": "Hi"}], stream=True
    ))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello there friend"
    assert all(c.usage is None for c in chunks)
    assert all(c.model == "chat-model" for c in chunks)
    assert engine.requests[-1]["stream_options"] == {"include_usage": True}


def test_stream_with_usage_ends_with_a_usage_chunk(platform: Platform, engine: FakeEngine) -> None:
    chunks = list(platform.client.chat.completions.create(
        model="chat-model", messages=[{"role": "user", "content": "Hi"}], stream=True,
        stream_options={"include_usage": True},
    ))
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 3


def test_stream_is_framed_as_sse_and_ends_with_done(platform: Platform, engine: FakeEngine) -> None:
    response = httpx.post(
        f"{platform.url}/v1/chat/completions",
        headers={"Authorization": f"Bearer {platform.key}"},
        json={"model": "chat-model", "messages": [{"role": "user", "content": "Hi"}], "stream": True},
    )
    assert response.headers["content-type"].startswith("text/event-stream")
    events = [e for e in response.text.split("\n\n") if e]
    assert all(e.startswith("data: ") for e in events)
    assert events[-1] == "data: [DONE]"


def test_engine_dying_mid_stream_ends_with_an_error_event(
    platform: Platform, engine: FakeEngine
) -> None:
    engine.mode = "die_mid_stream"
    stream = platform.client.chat.completions.create(
        model="chat-model", messages=[{"role": "user", "content": "Hi"}], stream=True
    )
    received = 0
    with pytest.raises(openai.APIError, match="stopped before finishing"):
        for _chunk in stream:
            received += 1
    assert received == 2, "chunks sent before the failure reach the client"


def test_images_are_forwarded_intact_to_vision_models(platform: Platform, engine: FakeEngine) -> None:
    content = [{"type": "text", "text": "What is this?"},
               {"type": "image_url", "image_url": {"url": PNG, "detail": "low"}}]
    platform.client.chat.completions.create(
        model="vision-model", messages=[{"role": "user", "content": content}]  # type: ignore[misc,list-item]
    )
    assert engine.requests[-1]["messages"][0]["content"] == content


def test_images_are_refused_on_text_models(platform: Platform, engine: FakeEngine) -> None:
    content = [{"type": "image_url", "image_url": {"url": PNG}}]
    with pytest.raises(openai.BadRequestError) as caught:
        platform.client.chat.completions.create(
            model="chat-model", messages=[{"role": "user", "content": content}]  # type: ignore[misc,list-item]
        )
    assert caught.value.body["param"] == "messages"  # type: ignore[index]
    assert engine.requests == []


def test_remote_image_urls_are_not_fetched(platform: Platform, engine: FakeEngine) -> None:
    content = [{"type": "image_url", "image_url": {"url": "https://example.org/cat.png"}}]
    with pytest.raises(openai.BadRequestError, match="data:image"):
        platform.client.chat.completions.create(
            model="vision-model", messages=[{"role": "user", "content": content}]  # type: ignore[misc,list-item]
        )
    assert engine.requests == []


def test_chat_on_a_base_model_is_refused(platform: Platform, engine: FakeEngine) -> None:
    with pytest.raises(openai.BadRequestError, match="/v1/completions") as caught:
        platform.client.chat.completions.create(
            model="base-model", messages=[{"role": "user", "content": "Hi"}]
        )
    assert caught.value.body["param"] == "model"  # type: ignore[index]


def test_completions_on_a_base_model(platform: Platform, engine: FakeEngine) -> None:
    reply = platform.client.completions.create(model="base-model", prompt="Once upon", max_tokens=4)
    assert reply.model == "base-model"
    assert engine.requests[-1]["prompt"] == "Once upon"


def test_tools_on_a_model_without_tools_are_refused(platform: Platform, engine: FakeEngine) -> None:
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
    with pytest.raises(openai.BadRequestError) as caught:
        platform.client.chat.completions.create(
            model="vision-model", messages=[{"role": "user", "content": "Hi"}], tools=[tool]  # type: ignore[list-item]
        )
    assert caught.value.body["param"] == "tools"  # type: ignore[index]


def test_json_schema_without_schema_is_refused(platform: Platform, engine: FakeEngine) -> None:
    incomplete: Any = {"type": "json_schema"}
    with pytest.raises(openai.BadRequestError) as caught:
        platform.client.chat.completions.create(
            model="chat-model", messages=[{"role": "user", "content": "Hi"}], response_format=incomplete
        )
    assert caught.value.body["param"] == "response_format.json_schema"  # type: ignore[index]


def test_too_many_output_tokens_are_refused(platform: Platform, engine: FakeEngine) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        platform.client.chat.completions.create(
            model="chat-model", messages=[{"role": "user", "content": "Hi"}], max_tokens=100_000
        )
    assert caught.value.body["param"] == "max_tokens"  # type: ignore[index]


def test_context_overflow_becomes_context_length_exceeded(
    platform: Platform, engine: FakeEngine
) -> None:
    engine.mode = "context_error"
    with pytest.raises(openai.BadRequestError) as caught:
        platform.client.chat.completions.create(
            model="chat-model", messages=[{"role": "user", "content": "Hi"}]
        )
    assert caught.value.code == "context_length_exceeded"
