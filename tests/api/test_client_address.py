"""The client's address as the throttle, the audit log and the admin allow-list read it: behind a
trusted proxy it comes from X-Forwarded-For, whose text is the client's own."""

from __future__ import annotations

import asyncio

import pytest
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from llmaas.api.deps import INVALID_ADDRESS, client_address


@pytest.mark.parametrize(("client", "address"), [
    (("10.0.0.7", 5000), "10.0.0.7"),
    (("2001:db8::1", 5000), "2001:db8::1"),
    (None, None),
])
def test_an_address_is_read_as_it_is(client: tuple[str, int] | None, address: str | None) -> None:
    assert client_address({"type": "http", "client": client}) == address


@pytest.mark.parametrize("forwarded", ["x" * 30_000, "evil\nline", "[link=https://x.test]", "unknown"])
def test_a_forwarded_for_that_is_no_address_is_one_shared_invalid(forwarded: str) -> None:
    seen: list[str | None] = []

    async def app(scope: dict[str, object], receive: object, send: object) -> None:
        seen.append(client_address(scope))

    proxied = ProxyHeadersMiddleware(app, trusted_hosts="127.0.0.1")  # type: ignore[arg-type]
    scope = {"type": "http", "client": ("127.0.0.1", 5000), "scheme": "http",
             "headers": [(b"x-forwarded-for", forwarded.encode())]}
    asyncio.run(proxied(scope, None, None))  # type: ignore[arg-type]
    assert seen == [INVALID_ADDRESS]
