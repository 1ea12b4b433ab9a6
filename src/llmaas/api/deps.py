"""Dependencies routes declare: the gateway, and the caller's API key."""

from __future__ import annotations

import ipaddress
from typing import Annotated

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.types import Scope

from llmaas.api.middleware import request_facts
from llmaas.auth import ApiKey, FailedAuthentications, KeyService
from llmaas.errors import AuthenticationFailed
from llmaas.gateway import Gateway
from llmaas.gateway.accounting import Caller

INVALID_ADDRESS = "invalid"


# Async on purpose: FastAPI runs plain `def` dependencies in the thread pool, a hop per request.
async def get_gateway(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    return gateway


async def authenticate(
    keys: KeyService, authorization: str | None, *, failures: FailedAuthentications, address: str | None,
) -> ApiKey:
    """The key an `Authorization: Bearer ...` header names; the database only on a cache miss. An
    address with too many failures is refused first (429), and each failure counts against it."""
    failures.check(address)
    try:
        return await _key(keys, authorization)
    except AuthenticationFailed:
        await failures.failed(address)
        raise


async def _key(keys: KeyService, authorization: str | None) -> ApiKey:
    scheme, _, secret = (authorization or "").partition(" ")
    secret = secret.strip()
    if scheme.lower() != "bearer" or not secret:
        raise AuthenticationFailed(
            "You didn't provide an API key. Provide it in the Authorization header as "
            "'Bearer YOUR_KEY'.",
            code="missing_api_key",
        )
    hit, key = keys.cached(secret)
    if not hit:
        key = await run_in_threadpool(keys.authenticate, secret)  # reads the database
    if key is None:
        raise AuthenticationFailed("Incorrect API key provided.")
    return key


def client_address(scope: Scope) -> str | None:
    """The client's IP address, for the failed-authentication throttle, the audit log and the admin
    API's allow-list. Behind a trusted proxy it comes from X-Forwarded-For, which holds whatever the
    client wrote when the proxy passes it on: anything but an address is one shared "invalid" (so it
    is still throttled, as one, and no text of the client's is kept)."""
    client = scope.get("client")
    if not client:
        return None
    try:
        return str(ipaddress.ip_address(client[0]))
    except ValueError:
        return INVALID_ADDRESS


async def get_api_key(request: Request) -> ApiKey:
    state = request.app.state
    key = await authenticate(state.keys, request.headers.get("authorization"),
                             failures=state.auth_failures, address=client_address(request.scope))
    request_facts(request).key_prefix = key.prefix
    return key


async def get_caller(request: Request, key: Annotated[ApiKey, Depends(get_api_key)]) -> Caller:
    return Caller(key=key, request_id=request_facts(request).request_id)


GatewayDep = Annotated[Gateway, Depends(get_gateway)]
ApiKeyDep = Annotated[ApiKey, Depends(get_api_key)]
CallerDep = Annotated[Caller, Depends(get_caller)]
