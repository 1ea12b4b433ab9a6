"""Relaying a server-sent event stream from an engine to the client.

Lines pass through as bytes; only a chunk that carries usage is parsed. Errors before the first
byte become ordinary HTTP errors; after it, one SSE error event closes the stream.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Any

import aiohttp
import orjson

from llmaas.observability.metrics import Metrics
from llmaas.routing import UpstreamTarget

Upstream = AbstractAsyncContextManager[tuple[UpstreamTarget, aiohttp.ClientResponse]]


async def relay_stream(
    upstream: Upstream, *, public_model: str, include_usage: bool, metrics: Metrics
) -> AsyncIterator[bytes]:
    """Open the upstream stream now (so its errors are HTTP errors) and return the relay."""
    events = _relay(upstream, public_model, include_usage, metrics)
    await anext(events)  # runs up to the upstream's 200, or raises
    return events


async def _relay(
    upstream: Upstream, public_model: str, include_usage: bool, metrics: Metrics
) -> AsyncIterator[bytes]:
    started = time.perf_counter()
    first_token_seen = False
    async with upstream as (target, response):
        yield b""
        rename = _renamer(target.model, public_model)
        done = False
        skip_blank = False
        try:
            async for line in response.content:
                if line.startswith(b"data:"):
                    data = line[5:].strip()
                    if data == b"[DONE]":
                        done = True
                    elif b'"usage"' in data:
                        line = _account(data, public_model, include_usage, metrics)
                        if not line:
                            skip_blank = True
                            continue
                    if not first_token_seen and not done:
                        first_token_seen = True
                        metrics.first_token.labels(public_model).observe(time.perf_counter() - started)
                elif skip_blank and not line.strip():
                    skip_blank = False
                    continue
                yield rename(line)
        except (aiohttp.ClientError, TimeoutError):
            pass
        if not done:
            yield error_event("The engine stopped before finishing the answer.", "upstream_error")


def _account(data: bytes, public_model: str, include_usage: bool, metrics: Metrics) -> bytes:
    """Count the usage chunk's tokens; hide the chunk when the client did not ask for usage."""
    chunk: dict[str, Any] = orjson.loads(data)
    usage = chunk.get("usage")
    if usage:
        metrics.count_tokens(public_model, usage)
    if include_usage:
        return b"data: " + data + b"\n"
    if not chunk.get("choices"):
        return b""
    chunk["usage"] = None  # OpenAI sends null usage on every chunk unless asked
    return b"data: " + orjson.dumps(chunk) + b"\n"


def _renamer(upstream_model: str, public_model: str) -> Any:
    if upstream_model == public_model:
        return lambda line: line
    old = b'"model":' + orjson.dumps(upstream_model)
    new = b'"model":' + orjson.dumps(public_model)
    return lambda line: line.replace(old, new)


def error_event(message: str, code: str) -> bytes:
    body = {"error": {"message": message, "type": "server_error", "param": None, "code": code}}
    return b"data: " + orjson.dumps(body) + b"\n\n"
