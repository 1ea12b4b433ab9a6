"""Every answer body and every stream chunk or event, checked against OpenAI's published OpenAPI
document (tests/openai_spec.py): chat (streamed or not, with tool calls), completions, embeddings,
transcriptions and translations, the model list, responses (streamed or not) and errors.

Answers are read raw, as bytes off the wire: an SDK's parsing would forgive what the schema does not.
"""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest

from tests.audio import silent_wav
from tests.fakes import FakeEngine
from tests.gateway.conftest import Platform
from tests.openai_spec import conforms

HI = [{"role": "user", "content": "Hi"}]
PARAMETERS = {"type": "object", "properties": {"city": {"type": "string"}}}
TOOL = {"type": "function", "function": {"name": "get_weather", "parameters": PARAMETERS}}
WEATHER = {"type": "function", "name": "get_weather", "parameters": PARAMETERS}
CALL = ['{"name": "get_weather", ', '"arguments": {"city": "Paris"}}']


def post(platform: Platform, path: str, body: dict[str, Any]) -> httpx.Response:
    response = httpx.post(f"{platform.url}{path}", json=body,
                          headers={"Authorization": f"Bearer {platform.key}"}, timeout=30)
    return response


def chunks(response: httpx.Response) -> list[tuple[str | None, Any]]:
    """A stream's events as (event name, parsed data); [DONE] as its text."""
    assert response.status_code == 200, response.text
    out: list[tuple[str | None, Any]] = []
    for event in response.text.split("\n\n"):
        if not event.strip():
            continue
        name = None
        for line in event.splitlines():
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data = line[5:].strip()
                out.append((name, data if data == "[DONE]" else orjson.loads(data)))
    return out


@pytest.mark.parametrize("pieces", [None, CALL], ids=["text", "tool-call"])
def test_chat_completions(platform: Platform, engine: FakeEngine, pieces: list[str] | None) -> None:
    engine.pieces = pieces
    body = {"model": "chat-model", "messages": HI, "tools": [TOOL]}
    answer = post(platform, "/v1/chat/completions", body)
    conforms("CreateChatCompletionResponse", answer.json())
    if pieces:
        assert answer.json()["choices"][0]["message"]["tool_calls"]
    streamed = chunks(post(platform, "/v1/chat/completions",
                           {**body, "stream": True, "stream_options": {"include_usage": True}}))
    assert streamed[-1] == (None, "[DONE]")
    for _name, chunk in streamed[:-1]:
        conforms("CreateChatCompletionStreamResponse", chunk)
    assert any(chunk["choices"] and chunk["choices"][0]["delta"].get("tool_calls")
               for _name, chunk in streamed[:-1]) == bool(pieces)


def test_completions(platform: Platform, engine: FakeEngine) -> None:
    conforms("CreateCompletionResponse", post(platform, "/v1/completions",
                                              {"model": "chat-model", "prompt": "Hi"}).json())
    streamed = chunks(post(platform, "/v1/completions", {
        "model": "chat-model", "prompt": "Hi", "stream": True, "stream_options": {"include_usage": True}}))
    for _name, chunk in streamed[:-1]:
        if not chunk["choices"]:  # the usage chunk: the document describes whole answers only
            continue
        if chunk.get("usage", {}) is None:
            del chunk["usage"]  # OpenAI's own chunks say null when usage comes in a last chunk
        for choice in chunk["choices"]:
            # OpenAI's own chunks carry finish_reason null until the last: the document describes the
            # whole answer. Text-completion chunks pass through as the engine wrote them, and llama.cpp
            # leaves out `logprobs` when none were asked: a known departure (docs/testing.md).
            choice["finish_reason"] = choice["finish_reason"] or "stop"
            choice.setdefault("logprobs", None)
        conforms("CreateCompletionResponse", chunk)


def test_embeddings_models_and_audio(platform: Platform, engine: FakeEngine) -> None:
    conforms("CreateEmbeddingResponse", post(platform, "/v1/embeddings",
                                             {"model": "embed-model", "input": ["a", "b"]}).json())
    models = httpx.get(f"{platform.url}/v1/models", headers={"Authorization": f"Bearer {platform.key}"})
    conforms("ListModelsResponse", models.json())
    for path, schema in (("/v1/audio/transcriptions", "CreateTranscriptionResponseJson"),
                         ("/v1/audio/translations", "CreateTranslationResponseJson")):
        answer = httpx.post(f"{platform.url}{path}", data={"model": "speech-multi"},
                            files={"file": ("a.wav", silent_wav(1))},
                            headers={"Authorization": f"Bearer {platform.key}"})
        conforms(schema, answer.json())


@pytest.mark.parametrize("pieces", [None, CALL], ids=["text", "tool-call"])
def test_responses(platform: Platform, engine: FakeEngine, pieces: list[str] | None) -> None:
    engine.pieces = pieces
    body = {"model": "chat-model", "input": "Hi", "instructions": "Be brief.", "tools": [WEATHER],
            "metadata": {"app": "test"}}
    answer = post(platform, "/v1/responses", body).json()
    conforms("Response", answer)
    assert answer["output"][0]["type"] == ("function_call" if pieces else "message")
    streamed = chunks(post(platform, "/v1/responses", {**body, "stream": True}))
    for name, event in streamed:
        conforms("ResponseStreamEvent", event)
        assert name == event["type"]
    assert streamed[-1][1]["type"] == "response.completed"


def test_a_failed_stream_and_errors(platform: Platform, engine: FakeEngine) -> None:
    engine.mode = "die_mid_stream"
    streamed = chunks(post(platform, "/v1/responses", {"model": "chat-model", "input": "Hi", "stream": True}))
    assert streamed[-1][1]["type"] == "response.failed"
    for _name, event in streamed:
        conforms("ResponseStreamEvent", event)
    for path, body in (("/v1/responses", {"model": "chat-model", "input": "x", "store": True}),
                       ("/v1/chat/completions", {"model": "nope", "messages": HI})):
        conforms("ErrorResponse", post(platform, path, body).json())
