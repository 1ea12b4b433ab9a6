"""Embeddings, transcription relay, the model list and operational endpoints, against a fake engine."""

from __future__ import annotations

import time

import httpx
import openai
import pytest

from tests.audio import silent_wav
from tests.fakes import FakeEngine
from tests.gateway.conftest import Platform


def test_embeddings_are_relayed(platform: Platform, engine: FakeEngine) -> None:
    result = platform.client.embeddings.create(model="embed-model", input=["a", "b"])
    assert [d.index for d in result.data] == [0, 1]
    assert result.model == "embed-model"
    assert engine.requests[-1]["input"] == ["a", "b"]


def test_embeddings_on_a_chat_model_are_refused(platform: Platform) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        platform.client.embeddings.create(model="chat-model", input="a")
    assert caught.value.body["param"] == "model"  # type: ignore[index]


def test_transcription_upload_is_relayed_in_memory(platform: Platform, engine: FakeEngine) -> None:
    audio = silent_wav(1.0)
    text = platform.client.audio.transcriptions.create(
        model="speech-model", file=("speech.wav", audio), response_format="text", language="en"
    )
    assert text.strip() == "hello world"
    sent = engine.forms[-1]
    assert sent["file"] == audio
    assert (sent["model"], sent["language"], sent["response_format"]) == ("upstream-name", "en", "text")


@pytest.mark.parametrize(
    ("data", "files", "param", "status"),
    [
        ({"model": "speech-model"}, None, "file", 400),
        ({}, {"file": ("a.wav", b"abc")}, "model", 400),
        ({"model": "speech-model", "response_format": "mp4"}, {"file": ("a.wav", b"abc")},
         "response_format", 400),
        ({"model": "speech-model", "temperature": "warm"}, {"file": ("a.wav", b"abc")},
         "temperature", 400),
        ({"model": "speech-model"}, {"file": ("a.wav", bytes(40 * 1024))}, "file", 413),
    ],
)
def test_bad_transcription_requests(
    platform: Platform, data: dict[str, str], files: dict[str, tuple[str, bytes]] | None,
    param: str, status: int,
) -> None:
    response = httpx.post(
        f"{platform.url}/v1/audio/transcriptions", data=data, files=files or {"other": ("x", b"")},
        headers={"Authorization": f"Bearer {platform.key}"},
    )
    assert response.status_code == status, response.text
    assert response.json()["error"]["param"] == param


def test_what_is_not_audio_is_refused_before_the_engine(platform: Platform, engine: FakeEngine) -> None:
    before = len(engine.forms)
    with pytest.raises(openai.BadRequestError) as caught:
        platform.client.audio.transcriptions.create(model="speech-model", file=("a.wav", b"RIFF" + bytes(99)))
    assert caught.value.body["param"] == "file"  # type: ignore[index]
    assert len(engine.forms) == before


def test_the_field_an_engine_refuses_is_named_to_the_client(platform: Platform, engine: FakeEngine) -> None:
    engine.mode = "refuse_file"
    with pytest.raises(openai.BadRequestError) as caught:
        platform.client.audio.transcriptions.create(model="speech-model", file=("a.wav", silent_wav(1.0)))
    assert caught.value.body["param"] == "file"  # type: ignore[index]
    assert caught.value.body["message"] == "The audio could not be decoded."  # type: ignore[index]


def test_transcription_needs_multipart(platform: Platform) -> None:
    response = httpx.post(f"{platform.url}/v1/audio/transcriptions", json={"model": "speech-model"},
                          headers={"Authorization": f"Bearer {platform.key}"})
    assert response.status_code == 400


def test_model_list_has_catalog_fields(platform: Platform) -> None:
    models = {m.id: m for m in platform.client.models.list()}
    assert set(models) >= {"chat-model", "base-model", "embed-model", "speech-model"}
    chat = platform.client.models.retrieve("chat-model")
    assert chat.owned_by == "tests"
    extra = chat.model_extra or {}
    assert extra["context_length"] == 4096
    assert "tools" in extra["capabilities"]


def test_health_ready_and_metrics(platform: Platform) -> None:
    assert httpx.get(f"{platform.url}/health").json() == {"status": "ok"}
    deadline = time.monotonic() + 5
    while True:
        ready = httpx.get(f"{platform.url}/ready")
        if ready.json()["models"]["chat-model"] == "ready" or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert ready.json()["models"]["chat-model"] == "ready"
    assert ready.json()["models"]["down-model"] == "unavailable"
    assert ready.status_code == 200, "one model down does not take the replica out"
    assert httpx.get(f"{platform.url}/ready?all=true").status_code == 503  # down-model has no engine
    platform.client.chat.completions.create(model="chat-model", messages=[{"role": "user", "content": "x"}])
    metrics = httpx.get(f"{platform.url}/metrics").text
    assert 'llmaas_requests_total{endpoint="/v1/chat/completions",model="chat-model",status="200"}' in metrics
    assert 'llmaas_tokens_total{kind="completion",model="chat-model"}' in metrics


def test_api_reference_is_served_without_a_cdn(platform: Platform) -> None:
    page = httpx.get(f"{platform.url}/docs")
    assert page.status_code == 200
    assert "cdn" not in page.text.lower() and "http://" not in page.text.replace("http://127", "")
    assert httpx.get(f"{platform.url}/static/swagger-ui/swagger-ui-bundle.js").status_code == 200
    schema = httpx.get(f"{platform.url}/openapi.json").json()
    # The plain-ASGI endpoints are documented like FastAPI's own routes, with their request bodies.
    for path, body in (("/v1/chat/completions", "ChatCompletionRequest"),
                       ("/v1/completions", "CompletionRequest"),
                       ("/v1/embeddings", "EmbeddingRequest"), ("/v1/rerank", "RerankRequest")):
        operation = schema["paths"][path]["post"]
        assert operation["requestBody"]["content"]["application/json"]["schema"] == {
            "$ref": f"#/components/schemas/{body}"}
    assert "messages" in schema["components"]["schemas"]["ChatCompletionRequest"]["properties"]
    assert "/v1/audio/transcriptions" in schema["paths"] and "/v1/models" in schema["paths"]
