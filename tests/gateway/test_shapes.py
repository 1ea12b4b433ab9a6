"""Answers in OpenAI's shape, without the engine's internals (the fake engine adds llama.cpp's)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from llmaas.gateway.shapes import PLATFORM_FINGERPRINT
from tests.fakes import FakeEngine
from tests.gateway.conftest import Platform

HI = [{"role": "user", "content": "Hi"}]


def post(platform: Platform, path: str, body: dict[str, Any]) -> httpx.Response:
    response = httpx.post(f"{platform.url}/v1{path}", json=body, timeout=30,
                          headers={"Authorization": f"Bearer {platform.key}"})
    assert response.status_code == 200, response.text
    return response


def events(response: httpx.Response) -> list[dict[str, Any]]:
    data = [e.removeprefix("data: ") for e in response.text.split("\n\n") if e.strip()]
    assert data[-1] == "[DONE]"
    return [json.loads(e) for e in data[:-1]]


def assert_no_internals(body: dict[str, Any]) -> None:
    assert "timings" not in body
    assert body.get("system_fingerprint", PLATFORM_FINGERPRINT) == PLATFORM_FINGERPRINT
    details = (body.get("usage") or {}).get("prompt_tokens_details")
    assert details is None or details["cached_tokens"] == 0


@pytest.mark.parametrize("path, body", [
    ("/chat/completions", {"messages": HI}), ("/completions", {"prompt": "Hi"}),
], ids=["chat", "completions"])
def test_json_answers_have_the_required_fields_and_no_internals(
    platform: Platform, engine: FakeEngine, path: str, body: dict[str, Any]
) -> None:
    answer = post(platform, path, {"model": "chat-model", **body}).json()
    assert_no_internals(answer)
    assert answer["usage"]["prompt_tokens_details"] == {"cached_tokens": 0}
    [choice] = answer["choices"]
    assert "logprobs" in choice and choice["logprobs"] is None
    if path == "/chat/completions":
        assert choice["message"]["refusal"] is None and "refusal" in choice["message"]


@pytest.mark.parametrize("path, body", [
    ("/chat/completions", {"messages": HI}), ("/completions", {"prompt": "Hi"}),
], ids=["chat", "completions"])
@pytest.mark.parametrize("include_usage", [True, False])
def test_streams_end_with_a_usage_chunk_of_their_own_when_asked(
    platform: Platform, engine: FakeEngine, path: str, body: dict[str, Any], include_usage: bool
) -> None:
    response = post(platform, path, {"model": "chat-model", "stream": True,
                                      "stream_options": {"include_usage": include_usage}, **body})
    chunks = events(response)
    for chunk in chunks:
        assert_no_internals(chunk)
    assert all(chunk.get("usage") is None for chunk in chunks if chunk["choices"])
    usage = [chunk for chunk in chunks if not chunk["choices"]]
    if include_usage:
        assert chunks[-1] is usage[0] and len(usage) == 1
        assert usage[0]["usage"]["completion_tokens"] == 3
    else:
        assert usage == []
