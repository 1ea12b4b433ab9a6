"""A chat's images: bounded in count and bytes, inline only, unless the operator allows a host, whose
images the gateway then fetches itself (bounded) and passes on inline; the engine never fetches."""

from __future__ import annotations

import base64
import logging
import struct
import uuid
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from llmaas.app import create_app
from llmaas.auth import KeyLimits, KeyService
from llmaas.settings import Settings
from llmaas.storage.database import create_database_engine, migrate
from tests.fakes import FakeEngine
from tests.gateway.conftest import catalog_for
from tests.gateway.test_errors import assert_error
from tests.servers import free_port, serve

CHAT = "/v1/chat/completions"
MAX_IMAGE = 2000
MAX_TOTAL = 3000


def png() -> bytes:
    """A 1×1 PNG."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0\xff\0\0"))
            + chunk(b"IEND", b""))


PNG = png()


def inline(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode()


def image_server(hits: list[str]) -> ASGIApp:
    """Images, and the ways a remote image can go wrong; `hits` gets each request's path."""
    async def picture(request: Request) -> Response:
        return Response(PNG, media_type="image/png")

    async def big(request: Request) -> Response:
        return Response(PNG + b"\0" * MAX_IMAGE, media_type="image/png")

    async def text(request: Request) -> Response:
        return Response("not an image", media_type="text/plain")

    async def elsewhere(request: Request) -> Response:  # 127.0.0.1 is not the allowed name "localhost"
        return RedirectResponse(f"http://127.0.0.1:{request.url.port}/cat.png", 302)

    async def moved(request: Request) -> Response:
        return RedirectResponse("/cat.png", 301)

    async def count(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            hits.append(scope["path"])
        await app(scope, receive, send)

    app = Starlette(routes=[
        Route("/cat.png", picture), Route("/big.png", big), Route("/cat.txt", text),
        Route("/moved.png", moved), Route("/elsewhere.png", elsewhere),
    ])
    return count


@dataclass
class Gateway:
    url: str
    key: str
    engine: FakeEngine
    images: str  # the image server's base URL, by its allowed name
    image_hits: list[str]  # the paths the image server was asked for
    keys: KeyService

    def respond(self, *contents: str | list[dict[str, Any]], **fields: Any) -> httpx.Response:
        """The same images through /v1/responses, which is answered as a chat."""
        items = [{"role": "user", "content": content} for content in contents]
        return httpx.post(f"{self.url}/v1/responses", headers={"Authorization": f"Bearer {self.key}"},
                          json={"model": "vision-model", "input": items, **fields}, timeout=30)

    def chat(self, *contents: list[dict[str, Any]], key: str | None = None) -> httpx.Response:
        messages = [{"role": "user", "content": content} for content in contents]
        return httpx.post(f"{self.url}{CHAT}", headers={"Authorization": f"Bearer {key or self.key}"},
                          json={"model": "vision-model", "messages": messages}, timeout=30)


@contextmanager
def gateway(home: Path, **settings: Any) -> Iterator[Gateway]:
    database = create_database_engine(f"sqlite:///{home / 'llmaas.db'}")
    migrate(database)
    secret = KeyService(database).create(name="tests").secret
    engine, hits = FakeEngine(model="upstream-name"), list[str]()
    with serve(engine.app()) as engine_url, serve(image_server(hits)) as images:
        app = create_app(Settings(home=home, health_interval_s=0.2, **settings),
                         catalog=catalog_for(engine_url), database=database)
        with serve(app) as url:
            yield Gateway(url, secret, engine, images.replace("127.0.0.1", "localhost"), hits,
                          KeyService(database))
    database.dispose()


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """Default settings but for small image limits: no remote host allowed."""
    with gateway(tmp_path_factory.mktemp("strict"), max_images_per_request=2, max_image_bytes=MAX_IMAGE,
                 max_image_bytes_per_request=MAX_TOTAL) as started:
        yield started


@pytest.fixture(scope="module")
def allowing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """The image server allowed by its name, localhost."""
    with gateway(tmp_path_factory.mktemp("allowing"), max_image_bytes=MAX_IMAGE,
                 remote_image_hosts="localhost", remote_image_timeout_s=10) as started:
        yield started


def image(url: str) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": url}}


def text(words: str) -> dict[str, Any]:
    return {"type": "text", "text": words}


def test_images_within_the_limits_reach_the_engine_intact(strict: Gateway) -> None:
    content = [text("compare"), image(inline(PNG)), image(inline(b"\0" * MAX_IMAGE))]
    assert strict.chat(content).status_code == 200
    assert strict.engine.requests[-1]["messages"][0]["content"] == content


def test_more_images_than_allowed_is_a_400_naming_the_first_too_many(strict: Gateway) -> None:
    before = len(strict.engine.requests)
    response = strict.chat([text("look"), image(inline(PNG))], [image(inline(PNG)), image(inline(PNG))])
    error = assert_error(response, 400, param="messages[1].content[1].image_url")
    assert "at most 2 images" in str(error["message"])
    assert len(strict.engine.requests) == before


def test_an_image_over_the_byte_limit_is_a_400_naming_it(strict: Gateway) -> None:
    response = strict.chat([text("look")], [image(inline(PNG)), image(inline(b"\0" * (MAX_IMAGE + 1)))])
    error = assert_error(response, 400, param="messages[1].content[1].image_url")
    assert f"at most {MAX_IMAGE} bytes" in str(error["message"])


def test_images_over_the_total_limit_are_a_400_naming_the_one_that_passes_it(strict: Gateway) -> None:
    half = image(inline(b"\0" * (MAX_TOTAL // 2 + 1)))
    error = assert_error(strict.chat([half], [half]), 400, param="messages[1].content[0].image_url")
    assert f"exceed {MAX_TOTAL} bytes together" in str(error["message"])


def test_an_image_that_is_not_base64_is_a_400_naming_it(strict: Gateway) -> None:
    response = strict.chat([text("look"), image("data:image/png;base64,@@not-base64@@")])
    assert_error(response, 400, param="messages[0].content[1].image_url")


def test_remote_image_urls_are_refused_by_default(strict: Gateway) -> None:
    response = strict.chat([image(f"{strict.images}/cat.png")])
    error = assert_error(response, 400, param="messages[0].content[0].image_url")
    assert "data:image" in str(error["message"])


@pytest.mark.parametrize("path", ["/cat.png", "/moved.png"])
def test_an_allowed_hosts_image_is_fetched_and_sent_inline(
    allowing: Gateway, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    canary = f"canary-{uuid.uuid4().hex}"  # the URL is the client's: no log may quote it
    with caplog.at_level(logging.INFO):
        response = allowing.chat([text("what is it?"), image(f"{allowing.images}{path}?{canary}")])
    assert response.status_code == 200, response.text
    assert canary not in caplog.text + "".join(str(record.args) for record in caplog.records)
    sent = allowing.engine.requests[-1]["messages"][0]["content"][1]
    assert sent == {"type": "image_url", "image_url": {"url": inline(PNG)}}


@pytest.mark.parametrize(("where", "why"), [
    ("/big.png", f"at most {MAX_IMAGE} bytes"),
    ("/cat.txt", "image content type"),
    ("/elsewhere.png", "allowed hosts"),  # a redirect to a host outside the list
    ("/missing.png", "answered 404"),
    ("http://127.0.0.1:{port}/cat.png", "allowed hosts"),  # the same server, by a name not allowed
    ("http://localhost:{free}/cat.png", "could not be fetched"),  # nobody listening
    ("ftp://localhost/cat.png", "data:image"),
])
def test_a_remote_image_that_cannot_be_used_is_a_clean_400(allowing: Gateway, where: str, why: str) -> None:
    before = len(allowing.engine.requests)
    port = httpx.URL(allowing.images).port
    url = where.format(port=port, free=free_port()) if "://" in where else f"{allowing.images}{where}"
    error = assert_error(allowing.chat([image(url)]), 400, param="messages[0].content[0].image_url")
    assert why in str(error["message"])
    assert len(allowing.engine.requests) == before


def test_a_client_over_its_request_rate_makes_the_gateway_fetch_nothing(allowing: Gateway) -> None:
    # The fetch waits for the admission: a client its limits refuse cannot make the platform
    # reach the operator's allowed hosts.
    key = allowing.keys.create(name="one-a-minute", limits=KeyLimits(requests_per_minute=1)).secret
    url = f"{allowing.images}/cat.png?{uuid.uuid4().hex}"
    assert allowing.chat([image(url)], key=key).status_code == 200
    fetched = allowing.image_hits.count("/cat.png")
    for _ in range(5):
        assert_error(allowing.chat([image(url)], key=key), 429)
    assert allowing.image_hits.count("/cat.png") == fetched


def test_a_key_refused_the_model_makes_the_gateway_fetch_nothing(allowing: Gateway) -> None:
    key = allowing.keys.create(name="other-models", allowed_models=["chat-model"]).secret
    before = len(allowing.image_hits)
    assert_error(allowing.chat([image(f"{allowing.images}/cat.png")], key=key), 403, param="model")
    assert len(allowing.image_hits) == before


def test_an_image_refused_without_the_network_is_refused_before_any_fetch(allowing: Gateway) -> None:
    # A remote image first, a broken inline one second: the 400 names the second, nothing fetched.
    before = len(allowing.image_hits)
    response = allowing.chat([image(f"{allowing.images}/cat.png"), image("data:image/png;base64,@@@")])
    assert_error(response, 400, param="messages[0].content[1].image_url")
    assert len(allowing.image_hits) == before


def input_image(url: str) -> dict[str, Any]:
    return {"type": "input_image", "image_url": url}


def test_responses_images_are_held_to_the_same_limits_and_named_by_their_input_item(strict: Gateway) -> None:
    before = len(strict.engine.requests)
    too_many = strict.respond([input_image(inline(PNG))] * 3)
    assert "at most 2 images" in str(assert_error(too_many, 400, param="input[0].content[2].image_url"))
    # The instructions become the chat's first message, and a function call joins the assistant turn
    # before it: the error still names the item and part the client sent.
    call = {"type": "function_call", "call_id": "call_1", "name": "look", "arguments": "{}"}
    too_large = strict.respond(
        "hello", [{"type": "input_text", "text": "and this?"}, input_image(inline(b"\0" * (MAX_IMAGE + 1)))],
        instructions="Describe images.")
    assert f"at most {MAX_IMAGE} bytes" in str(
        assert_error(too_large, 400, param="input[1].content[1].image_url")["message"])
    items = [{"role": "assistant", "content": "Let me look."}, call, {**call, "call_id": "call_2"},
             {"type": "function_call_output", "call_id": "call_1", "output": "{}"},
             {"type": "function_call_output", "call_id": "call_2", "output": "{}"},
             {"role": "user", "content": [input_image(f"{strict.images}/cat.png")]}]
    remote = httpx.post(f"{strict.url}/v1/responses", headers={"Authorization": f"Bearer {strict.key}"},
                        json={"model": "vision-model", "input": items}, timeout=30)
    assert "not fetched" in str(assert_error(remote, 400, param="input[5].content[0].image_url")["message"])
    assert len(strict.engine.requests) == before and strict.image_hits == []


def test_a_responses_image_from_an_allowed_host_is_sent_inline(allowing: Gateway) -> None:
    response = allowing.respond([{"type": "input_text", "text": "what is it?"},
                                 input_image(f"{allowing.images}/cat.png")])
    assert response.status_code == 200, response.text
    sent = allowing.engine.requests[-1]["messages"][0]["content"][1]
    assert sent == {"type": "image_url", "image_url": {"url": inline(PNG)}}
