"""RequestContext, the outermost middleware: HSTS on every HTTPS response, never over plain HTTP."""

from __future__ import annotations

import asyncio

import httpx
from starlette.types import Receive, Scope, Send

from llmaas.api.middleware import RequestContext
from llmaas.observability.metrics import Metrics

HSTS = "max-age=63072000; includeSubDomains"


async def plain(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


def answers(url: str, **kwargs: object) -> httpx.Response:
    app = RequestContext(plain, metrics=Metrics(), max_body_bytes=10)

    async def call() -> httpx.Response:
        # httpx's ASGI transport sets the scope's scheme from the URL, as uvicorn does from the socket.
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as client:
            return await client.post(url, **kwargs)  # type: ignore[arg-type]

    return asyncio.run(call())


def test_https_responses_carry_hsts() -> None:
    response = answers("https://gateway/v1/anything")
    assert response.status_code == 200 and response.headers["strict-transport-security"] == HSTS
    assert response.headers["x-request-id"].startswith("req_")


def test_an_early_refusal_over_https_carries_it_too() -> None:
    response = answers("https://gateway/v1/anything", content=b"x" * 11)
    assert response.status_code == 413 and response.headers["strict-transport-security"] == HSTS


def test_plain_http_responses_do_not() -> None:
    assert "strict-transport-security" not in answers("http://gateway/v1/anything").headers
