"""Talking to upstream engines over HTTP, and turning their failures into our error tree."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import orjson

from llmaas.errors import (
    ContextLengthExceeded,
    EngineUnavailable,
    InvalidRequest,
    LlmaasError,
    UpstreamFailed,
)
from llmaas.routing import UpstreamPool, UpstreamTarget

# llama.cpp says "exceed_context_size_error" / "exceeds the available context size";
# vLLM says "This model's maximum context length is N tokens".
_CONTEXT_ERROR = re.compile(r"context (size|length|window)|exceed_context", re.IGNORECASE)
_MAX_PARAM = 128  # characters of an engine's `param` passed on


class UpstreamClient:
    """One pooled HTTP client for all upstreams of this gateway replica."""

    def __init__(self, *, timeout_s: float) -> None:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, ttl_dns_cache=300, keepalive_timeout=60),
            timeout=aiohttp.ClientTimeout(total=timeout_s, sock_connect=5),
            skip_auto_headers=("User-Agent",),
        )

    @property
    def session(self) -> aiohttp.ClientSession:
        return self._session

    async def close(self) -> None:
        await self._session.close()

    @asynccontextmanager
    async def post(
        self,
        pool: UpstreamPool,
        path: str,
        *,
        json: Callable[[UpstreamTarget], Any] | None = None,
        data: Callable[[UpstreamTarget], aiohttp.FormData] | None = None,
    ) -> AsyncIterator[tuple[UpstreamTarget, aiohttp.ClientResponse]]:
        """POST to the first upstream that accepts the connection; yield its successful response.

        A connection failure, or a 5xx before the first byte, moves on to the next candidate (the
        engine produced nothing the client saw); the last such error is the answer when none is left.
        Anything else the upstream answers is final. Each outcome feeds the upstream's breaker.
        """
        async with pool.slot():  # held until the response is done with, a stream included
            last_error: LlmaasError | None = None
            for target in pool.candidates():
                target.outstanding += 1
                try:
                    try:
                        response = await self._send(target, path, json, data)
                    except aiohttp.ClientConnectionError:
                        target.healthy = False  # passive ejection; the health checker brings it back
                        target.breaker.failure()
                        continue
                    except TimeoutError:
                        target.breaker.failure()
                        raise EngineUnavailable("The engine did not answer in time.") from None
                    try:
                        if response.status >= 500:
                            target.breaker.failure()
                            last_error = await upstream_error(response)
                            continue
                        target.breaker.success()
                        if response.status != 200:
                            raise await upstream_error(response)
                        yield target, response
                    finally:
                        response.release()
                    return
                finally:
                    target.outstanding -= 1
            raise last_error or EngineUnavailable(
                "No engine for this model accepted the request; retry shortly.")

    async def _send(
        self,
        target: UpstreamTarget,
        path: str,
        json: Callable[[UpstreamTarget], Any] | None,
        data: Callable[[UpstreamTarget], aiohttp.FormData] | None,
    ) -> aiohttp.ClientResponse:
        headers, body = target.headers, None
        if json is not None:  # serialised here, once: aiohttp's JSON payload costs more
            headers, body = {**headers, "Content-Type": "application/json"}, orjson.dumps(json(target))
        for attempt in (1, 2):
            try:
                # A form is spent by sending it: each attempt builds its own.
                payload = body if json is not None else data(target) if data else None
                return await self._session.post(target.base_url + path, data=payload, headers=headers,
                                                ssl=target.tls)
            except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as error:
                # A pooled keep-alive connection the engine had already closed (llama-server closes
                # after each stream while advertising keep-alive): the request never reached it, so
                # one retry on a fresh connection is safe. A refused connection is the engine down.
                if attempt == 2 or isinstance(error, aiohttp.ClientConnectorError):
                    raise
        raise AssertionError("unreachable")


async def upstream_error(response: aiohttp.ClientResponse) -> LlmaasError:
    """Map an upstream's non-200 answer to our error tree, keeping its message when it helps."""
    try:
        body = orjson.loads(await response.read())
        error = body.get("error", body) if isinstance(body, dict) else {}
        message = str(error.get("message") or error.get("detail") or "") if isinstance(error, dict) else ""
        kind = str(error.get("type") or "") if isinstance(error, dict) else ""
        param = error.get("param") if isinstance(error, dict) else None
    except (orjson.JSONDecodeError, aiohttp.ClientError):
        message, kind, param = "", "", None
    status = response.status
    if status == 400 and _CONTEXT_ERROR.search(f"{kind} {message}"):
        return ContextLengthExceeded(
            message or "The request does not fit the model's context length.", param="messages"
        )
    if 400 <= status < 500 and status not in (401, 403, 404, 429):
        # The field the engine names (our workers do, as OpenAI does), when it looks like one.
        named = param if isinstance(param, str) and 0 < len(param) <= _MAX_PARAM else None
        return InvalidRequest(message or "The engine refused the request.", param=named)
    if status in (429, 503):
        return EngineUnavailable("The engine is saturated; retry shortly.", retry_after_s=1)
    # Upstream auth or routing problems are the operator's, not the client's.
    return UpstreamFailed(f"The engine failed (HTTP {status}).")
