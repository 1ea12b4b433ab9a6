"""How `llmaas serve` listens: forwarding headers are believed only behind a declared TLS proxy."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from llmaas.server import is_loopback, listening_options
from llmaas.settings import Settings
from tests.certs import make_pair
from tests.servers import serve

FORWARDED = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}


async def echo(scope: Scope, receive: Receive, send: Send) -> None:
    """Answers with the client address and scheme the app sees."""
    if scope["type"] != "http":
        return
    body = f"{scope['client'][0]} {scope['scheme']}".encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


def seen(settings: Settings) -> str:
    _, options = listening_options(settings)
    with serve(echo, **options) as url:
        return httpx.get(url, headers=FORWARDED).text


def test_forwarding_headers_are_ignored_without_a_tls_proxy(tmp_path: Path) -> None:
    assert seen(Settings(home=tmp_path)) == "127.0.0.1 http"


def test_behind_a_tls_proxy_they_are_trusted_from_the_trusted_proxies_only(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="llmaas.server"):
        assert seen(Settings(home=tmp_path, behind_tls_proxy=True)) == "203.0.113.9 https"
    assert "behind a TLS-terminating proxy: plain HTTP on 127.0.0.1:8000" in caplog.text
    assert seen(Settings(home=tmp_path, behind_tls_proxy=True, trusted_proxies=["10.0.0.0/8"])) == (
        "127.0.0.1 http")


def test_a_public_address_is_allowed_with_tls_or_behind_a_tls_proxy(tmp_path: Path) -> None:
    files = make_pair(tmp_path)
    tls, options = listening_options(
        Settings(home=tmp_path, host="0.0.0.0", tls_cert_file=files.cert, tls_key_file=files.key))
    assert tls is not None and options["ssl_context_factory"](None, None) is tls.context
    assert options["proxy_headers"] is False
    tls, options = listening_options(Settings(home=tmp_path, host="::", behind_tls_proxy=True))
    assert tls is None and options["forwarded_allow_ips"] == ["127.0.0.1", "::1"]


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("127.0.1.1", True), ("::1", True), ("localhost", True),
    ("0.0.0.0", False), ("::", False), ("", False), ("10.0.0.5", False), ("gateway.internal", False),
])
def test_loopback_addresses(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
