"""Hand-written hostile bodies: each is a clean OpenAI error (or a normal answer), and the gateway keeps
serving the next request."""

from __future__ import annotations

import pytest

from llmaas.wire.requests import MAX_INPUTS, MAX_JSON_DEPTH, MAX_LOGIT_BIAS, MAX_MESSAGES, MAX_STOP
from tests.audio import silent_wav
from tests.gateway.conftest import Platform
from tests.gateway.test_errors import assert_error, post

CHAT = "/v1/chat/completions"


def _still_serving(platform: Platform) -> None:
    assert post(platform, "/v1/embeddings", json={"model": "embed-model", "input": "ok"}).status_code == 200


HOSTILE_BODIES = {
    "invalid-utf8": b'{"model": "chat-model", "messages": [{"role": "user", "content": "\xff\xfe"}]}',
    "lone-surrogate": b'{"model": "chat-model", "messages": [{"role": "user", "content": "\\ud800"}]}',
    "deep-nesting": b'{"model": "chat-model", "messages": ' + b"[" * 5000 + b"]" * 5000 + b"}",
    "huge-number": b'{"model": "chat-model", "max_tokens": 1' + b"0" * 4000 + b', "messages": []}',
}


@pytest.mark.parametrize("body", HOSTILE_BODIES.values(), ids=HOSTILE_BODIES.keys())
def test_a_hostile_json_body_is_a_400(platform: Platform, body: bytes) -> None:
    response = post(platform, CHAT, content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400, response.text
    assert set(response.json()["error"]) == {"message", "type", "param", "code"}
    _still_serving(platform)


@pytest.mark.parametrize(("count", "status", "param"), [
    (MAX_MESSAGES + 1, 400, "messages"),  # 30 bytes each: under this platform's 64 KiB body limit
    (10_000, 413, None),  # over it
])
def test_more_messages_than_a_chat_may_hold_is_a_400(
    platform: Platform, count: int, status: int, param: str | None
) -> None:
    messages = [{"role": "user", "content": ""}] * count
    response = post(platform, CHAT, json={"model": "chat-model", "messages": messages, "max_tokens": 4})
    assert_error(response, status, param=param)
    _still_serving(platform)


def _nested(depth: int) -> dict[str, object]:
    inner: dict[str, object] = {}
    for _ in range(depth):
        inner = {"properties": inner}
    return inner


_CHAT = {"model": "chat-model", "messages": [{"role": "user", "content": "hi"}]}
_TOO_DEEP = _nested(MAX_JSON_DEPTH + 1)


@pytest.mark.parametrize(("path", "body", "field"), [
    (CHAT, {**_CHAT, "stop": [str(index) for index in range(MAX_STOP + 1)]}, "stop"),
    (CHAT, {**_CHAT, "logit_bias": {str(index): 1 for index in range(MAX_LOGIT_BIAS + 1)}}, "logit_bias"),
    (CHAT, {**_CHAT, "tools": [{"type": "function", "function": {"name": "f", "parameters": _TOO_DEEP}}]},
     "tools"),
    ("/v1/embeddings", {"model": "embed-model", "input": ["x"] * (MAX_INPUTS + 1)}, "input"),
    ("/v1/rerank", {"model": "embed-model", "query": "q", "documents": ["d"] * 1001}, "documents"),
], ids=["stop", "logit_bias", "json-depth", "embeddings-inputs", "rerank-documents"])
def test_a_list_or_nesting_past_its_bound_is_a_400_naming_it(
    platform: Platform, path: str, body: dict[str, object], field: str
) -> None:
    response = post(platform, path, json=body)
    assert response.status_code == 400, response.text
    assert str(response.json()["error"]["param"]).startswith(field)
    _still_serving(platform)


def test_an_image_that_is_not_base64_is_a_400(platform: Platform) -> None:
    parts = [{"type": "text", "text": "what is it?"},
             {"type": "image_url", "image_url": {"url": "data:image/png;base64,@@not-base64@@"}}]
    response = post(platform, CHAT, json={"model": "vision-model",
                                          "messages": [{"role": "user", "content": parts}]})
    assert_error(response, 400, param="messages[0].content[1].image_url")
    _still_serving(platform)


@pytest.mark.parametrize("body", [
    b'--b\r\nContent-Disposition: form-data; name="model"\r\n\r\nspeech-model\r\n--b\r\n'
    b'Content-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\nRIFF',  # cut mid-part
    b"",  # empty
])
def test_a_truncated_or_empty_upload_is_a_400(platform: Platform, body: bytes) -> None:
    response = post(platform, "/v1/audio/transcriptions", content=body,
                    headers={"content-type": "multipart/form-data; boundary=b"})
    assert_error(response, 400, param=response.json()["error"]["param"])
    _still_serving(platform)


def test_an_empty_audio_file_is_a_400_naming_it(platform: Platform) -> None:
    response = post(platform, "/v1/audio/transcriptions", data={"model": "speech-model"},
                    files={"file": ("a.wav", b"")})
    assert_error(response, 400, param="file")
    _still_serving(platform)


def test_audio_longer_than_the_limit_is_a_400_naming_the_file(platform: Platform) -> None:
    # 601 s of audio in 24 kB: under the byte limit, over the platform's 600 s (conftest.py).
    response = post(platform, "/v1/audio/transcriptions", data={"model": "speech-model"},
                    files={"file": ("a.wav", silent_wav(601, rate=20))})
    error = assert_error(response, 400, param="file")
    assert "600 seconds" in str(error["message"])
    _still_serving(platform)
