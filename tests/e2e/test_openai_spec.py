"""The real engines' answers, as the gateway passes them on, against OpenAI's published OpenAPI
document (tests/openai_spec.py): llama-server's chat (streamed, with a tool call) and /v1/responses,
the embeddings and transcription workers' JSON. tests/gateway/test_openai_spec.py checks every
endpoint in front of the fake engine; this checks what only a real engine writes."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest

from tests.audio import silent_wav
from tests.e2e.conftest import Served
from tests.openai_spec import conforms

pytestmark = pytest.mark.e2e

CHAT_MODEL = "qwen2.5-coder-0.5b-instruct"
CITY: Any = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
TOOL: Any = {"type": "function", "function": {"name": "get_weather", "parameters": CITY}}


def post(served: Served, path: str, **kwargs: Any) -> httpx.Response:
    response = httpx.post(f"{served.url}{path}", headers={"Authorization": f"Bearer {served.key}"},
                          timeout=300, **kwargs)
    assert response.status_code == 200, response.text
    return response


def data(response: httpx.Response) -> list[Any]:
    """A stream's `data:` payloads, parsed; [DONE] left out."""
    return [orjson.loads(line[5:]) for line in response.text.splitlines()
            if line.startswith("data:") and line[5:].strip() != "[DONE]"]


def test_llama_server_chat_and_responses(served: Served) -> None:
    ask: Any = {"model": CHAT_MODEL, "messages": [{"role": "user", "content": "Weather in Paris?"}],
                "max_tokens": 60, "temperature": 0}
    conforms("CreateChatCompletionResponse", post(served, "/v1/chat/completions", json=ask).json())
    forced = {**ask, "tools": [TOOL], "tool_choice": "required", "stream": True,
              "stream_options": {"include_usage": True}}
    for chunk in data(post(served, "/v1/chat/completions", json=forced)):
        conforms("CreateChatCompletionStreamResponse", chunk)
    asked: Any = {"model": CHAT_MODEL, "input": "Say hello.", "max_output_tokens": 20, "temperature": 0}
    conforms("Response", post(served, "/v1/responses", json=asked).json())
    for event in data(post(served, "/v1/responses", json={**asked, "stream": True})):
        conforms("ResponseStreamEvent", event)


def test_the_workers_json(served: Served) -> None:
    conforms("CreateEmbeddingResponse", post(served, "/v1/embeddings", json={
        "model": "multilingual-e5-small", "input": ["a sentence", "another one"]}).json())
    conforms("CreateTranscriptionResponseJson", post(
        served, "/v1/audio/transcriptions", data={"model": "whisper-tiny.en"},
        files={"file": ("a.wav", silent_wav(1, rate=16000))}).json())
    conforms("CreateTranslationResponseJson", post(
        served, "/v1/audio/translations", data={"model": "whisper-base"},
        files={"file": ("a.wav", silent_wav(1, rate=16000))}).json())
    models = httpx.get(f"{served.url}/v1/models", headers={"Authorization": f"Bearer {served.key}"})
    conforms("ListModelsResponse", models.json())
