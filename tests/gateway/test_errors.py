"""Every bad input gets a clear OpenAI-shaped error with the right status, and nothing leaks."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import httpx
import openai
import orjson
import pytest
from starlette.types import Message

from llmaas.app import create_app
from llmaas.auth import KeyService
from llmaas.catalog import Catalog
from llmaas.settings import Settings
from llmaas.storage.database import create_database_engine, migrate
from tests.clients import sdk
from tests.fakes import FakeEngine
from tests.gateway.conftest import Platform


def post(
    platform: Platform, path: str, *, headers: dict[str, str] | None = None, **kwargs: object
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {platform.key}", **(headers or {})}
    return httpx.post(f"{platform.url}{path}", headers=headers, **kwargs)  # type: ignore[arg-type]


def assert_error(response: httpx.Response, status: int, *, param: str | None = None,
                 code: str | None = None) -> dict[str, object]:
    assert response.status_code == status, response.text
    error: dict[str, object] = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["message"] and "Traceback" not in str(error["message"])
    assert error["param"] == param
    if code is not None:
        assert error["code"] == code
    return error


def test_missing_key_is_401(platform: Platform) -> None:
    response = httpx.get(f"{platform.url}/v1/models")
    assert_error(response, 401)


def test_wrong_key_is_401_through_the_sdk(platform: Platform) -> None:
    client = sdk(f"{platform.url}/v1", "sk-llmaas-nope")
    with pytest.raises(openai.AuthenticationError):
        client.models.list()


def test_unknown_model_is_404(platform: Platform) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        platform.client.chat.completions.create(model="gpt-9", messages=[{"role": "user", "content": "x"}])
    assert caught.value.code == "model_not_found"


def test_malformed_json_is_400(platform: Platform) -> None:
    response = post(platform, "/v1/chat/completions", content=b"{not json",
                    headers={"content-type": "application/json"})
    assert "not valid JSON" in str(assert_error(response, 400)["message"])


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/rerank"])
def test_the_json_endpoints_refuse_what_is_not_a_json_object(platform: Platform, path: str) -> None:
    for content, content_type in ((b"[1, 2]", "application/json"),
                                  (b'{"model": "chat-model"}', "application/x-www-form-urlencoded")):
        response = post(platform, path, content=content, headers={"content-type": content_type})
        error = assert_error(response, 400)
        assert "must be a JSON object (send Content-Type: application/json)" in str(error["message"])


def test_the_json_endpoints_take_post_only(platform: Platform) -> None:
    response = httpx.get(f"{platform.url}/v1/chat/completions",
                         headers={"Authorization": f"Bearer {platform.key}"})
    assert_error(response, 405, code="method_not_allowed")
    assert response.headers["allow"] == "POST" and response.headers["x-request-id"]


def test_the_key_is_checked_before_the_body_is_read(platform: Platform) -> None:
    response = httpx.post(f"{platform.url}/v1/embeddings", content=b"{not json")
    assert assert_error(response, 401)["code"] == "missing_api_key"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "chat-model"}, "messages"),
        ({"messages": [{"role": "user", "content": "x"}]}, "model"),
        ({"model": "chat-model", "messages": []}, "messages"),
        ({"model": "chat-model", "messages": [{"role": "wizard", "content": "x"}]}, "messages[0].role"),
        ({"model": "chat-model", "messages": [{"role": "user", "content": "x"}], "temperature": "hot"},
         "temperature"),
        ({"model": "chat-model", "messages": [{"role": "user", "content": "x"}], "temperature": 7},
         "temperature"),
        ({"model": "chat-model", "messages": [{"role": "user", "content": "x"}], "max_tokens": 0},
         "max_tokens"),
        ({"model": "chat-model", "messages": [{"role": "user", "content": "x"}], "n": 3}, "n"),
        ({"model": "chat-model", "messages": [{"role": "user", "content": "x"}], "stream": "yes"},
         "stream"),
        # Inside a content part: the field itself, not "content should be a string", nor the part's tag.
        ({"model": "chat-model", "messages": [{"role": "user", "content": [{"type": "text"}]}]},
         "messages[0].content[0].text"),
        ({"model": "chat-model", "messages": [
            {"role": "user", "content": [{"type": "image_url", "image_url": {"url": 5}}]}]},
         "messages[0].content[0].image_url.url"),
    ],
)
def test_wrong_chat_bodies_name_the_parameter(
    platform: Platform, engine: FakeEngine, body: dict[str, object], param: str
) -> None:
    assert_error(post(platform, "/v1/chat/completions", json=body), 400, param=param)
    assert engine.requests == []


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "embed-model"}, "input"),
        ({"model": "embed-model", "input": []}, "input"),
        ({"model": "embed-model", "input": [""]}, "input"),
        ({"model": "embed-model", "input": 42}, "input"),
        ({"model": "embed-model", "input": "x", "encoding_format": "hex"}, "encoding_format"),
        ({"model": "embed-model", "input": "x", "dimensions": 64}, "dimensions"),
    ],
)
def test_wrong_embedding_bodies_name_the_parameter(
    platform: Platform, engine: FakeEngine, body: dict[str, object], param: str
) -> None:
    assert_error(post(platform, "/v1/embeddings", json=body), 400, param=param)


def test_oversized_body_is_413(platform: Platform) -> None:
    big = "x" * (70 * 1024)
    response = post(platform, "/v1/chat/completions",
                    json={"model": "chat-model", "messages": [{"role": "user", "content": big}]})
    assert_error(response, 413, code="request_too_large")


def test_oversized_chunked_body_is_413(platform: Platform) -> None:
    def chunks() -> object:
        for _ in range(80):
            yield b"x" * 1024

    response = post(platform, "/v1/chat/completions", content=chunks(),
                    headers={"content-type": "application/json"})
    assert_error(response, 413)


def test_engine_down_is_503_with_retry_after(platform: Platform) -> None:
    response = post(platform, "/v1/chat/completions",
                    json={"model": "down-model", "messages": [{"role": "user", "content": "x"}]})
    assert_error(response, 503)
    assert int(response.headers["retry-after"]) >= 1


@pytest.mark.parametrize("mode", ["server_error", "garbage"])
def test_broken_engine_is_a_clean_502(platform: Platform, engine: FakeEngine, mode: str) -> None:
    engine.mode = mode
    response = post(platform, "/v1/chat/completions",
                    json={"model": "chat-model", "messages": [{"role": "user", "content": "x"}]})
    assert_error(response, 502)


def test_unknown_route_is_an_openai_shaped_404(platform: Platform) -> None:
    assert_error(post(platform, "/v1/nothing-here", json={}), 404)


def test_request_id_is_echoed_or_made(platform: Platform) -> None:
    given = httpx.get(f"{platform.url}/v1/models", headers={
        "Authorization": f"Bearer {platform.key}", "x-request-id": "trace-123"})
    assert given.headers["x-request-id"] == "trace-123"
    made = httpx.get(f"{platform.url}/v1/models", headers={
        "Authorization": f"Bearer {platform.key}", "x-request-id": "evil id\" injected=1"})
    assert made.headers["x-request-id"].startswith("req_")


def test_logs_never_carry_content(
    platform: Platform, engine: FakeEngine, caplog: pytest.LogCaptureFixture
) -> None:
    secret_prompt = "my-confidential-prompt-4711"
    with caplog.at_level(logging.DEBUG):
        platform.client.chat.completions.create(
            model="chat-model", messages=[{"role": "user", "content": secret_prompt}]
        )
        post(platform, "/v1/chat/completions", json={"model": "chat-model", "messages": secret_prompt})
        engine.mode = "server_error"
        post(platform, "/v1/chat/completions",
             json={"model": "chat-model", "messages": [{"role": "user", "content": secret_prompt}]})
    assert any(r.name == "llmaas.access" for r in caplog.records), "the access log is written"
    for record in caplog.records:
        assert secret_prompt not in record.getMessage()
        assert "Hello there" not in record.getMessage()


def test_a_client_gone_before_its_body_arrived_is_logged_as_499(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    database = create_database_engine(f"sqlite:///{tmp_path / 'llmaas.db'}")
    migrate(database)
    secret = KeyService(database).create(name="k").secret
    app = create_app(Settings(home=tmp_path), catalog=Catalog([]), database=database)
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/v1/chat/completions", "query_string": b"",
             "headers": [(b"authorization", f"Bearer {secret}".encode())], "app": app}
    with caplog.at_level(logging.INFO, logger="llmaas.access"):
        asyncio.run(app(scope, receive, send))
    assert sent == [], "nobody is left to answer"
    [line] = [orjson.loads(r.getMessage()) for r in caplog.records if r.name == "llmaas.access"]
    assert (line["status"], line["path"]) == (499, "/v1/chat/completions")
    database.dispose()
