"""Relaying a server-sent event stream from an engine to the client.

Lines pass through as bytes; only a chunk that carries usage is parsed. Errors before the first
byte become ordinary HTTP errors; after it, one SSE error event closes the stream. However the stream
ends (finished, engine failure, client gone), `on_end` learns what was generated, for billing.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

import aiohttp
import anyio
import orjson

from llmaas.observability.metrics import Metrics
from llmaas.routing import UpstreamTarget

Upstream = AbstractAsyncContextManager[tuple[UpstreamTarget, aiohttp.ClientResponse]]


@dataclass(frozen=True)
class StreamEnd:
    usage: dict[str, Any] | None  # the engine's own count, when the stream got that far
    content_chunks: int  # chunks with generated content relayed: about one token each


async def relay_stream(
    upstream: Upstream, *, public_model: str, include_usage: bool, metrics: Metrics,
    on_end: Callable[[StreamEnd], Awaitable[None]],
) -> AsyncIterator[bytes]:
    """Open the upstream stream now (so its errors are HTTP errors) and return the relay."""
    events = _relay(upstream, public_model, include_usage, metrics, on_end)
    await anext(events)  # runs up to the upstream's 200, or raises
    return events


async def _relay(
    upstream: Upstream, public_model: str, include_usage: bool, metrics: Metrics,
    on_end: Callable[[StreamEnd], Awaitable[None]],
) -> AsyncIterator[bytes]:
    started = time.perf_counter()
    usage: dict[str, Any] | None = None
    chunks = 0
    async with upstream as (target, response):
        yield b""
        rename = _renamer(target.model, public_model)
        done = False
        event: list[bytes] = []  # the lines of the event being read; sent whole, one write each
        try:
            async for line in response.content:
                if line.startswith(b"data:"):
                    data = line[5:].strip()
                    if data == b"[DONE]":
                        done = True
                    elif b'"usage"' in data:
                        usage, line = _account(data, public_model, include_usage, metrics, usage)
                    if b'"content":"' in data or b'"text":"' in data or b'"tool_calls"' in data:
                        if not chunks:
                            metrics.first_token.labels(public_model).observe(time.perf_counter() - started)
                        chunks += 1
                if line.strip():
                    event.append(line)
                elif event:  # a blank line ends an event (a hidden usage chunk left none)
                    yield rename(b"".join(event)) + b"\n"
                    event = []
            if event:
                yield rename(b"".join(event)) + b"\n"
            if not done:
                yield error_event("The engine stopped before finishing the answer.", "upstream_error")
        except (aiohttp.ClientError, TimeoutError):
            yield error_event("The engine stopped before finishing the answer.", "upstream_error")
        finally:
            # Shielded: when the client leaves, the relay is cancelled, and the bill must still land.
            with anyio.CancelScope(shield=True):
                await on_end(StreamEnd(usage, chunks))


def _account(
    data: bytes, public_model: str, include_usage: bool, metrics: Metrics, seen: dict[str, Any] | None
) -> tuple[dict[str, Any] | None, bytes]:
    """Count the usage chunk's tokens; hide the chunk when the client did not ask for usage."""
    chunk: dict[str, Any] = orjson.loads(data)
    usage = chunk.get("usage")
    if usage:
        metrics.count_tokens(public_model, usage)
        seen = usage
    if include_usage:
        return seen, b"data: " + data + b"\n"
    if not chunk.get("choices"):
        return seen, b""
    chunk["usage"] = None  # OpenAI sends null usage on every chunk unless asked
    return seen, b"data: " + orjson.dumps(chunk) + b"\n"


def _renamer(upstream_model: str, public_model: str) -> Any:
    if upstream_model == public_model:
        return lambda line: line
    old = b'"model":' + orjson.dumps(upstream_model)
    new = b'"model":' + orjson.dumps(public_model)
    return lambda line: line.replace(old, new)


def error_event(message: str, code: str) -> bytes:
    body = {"error": {"message": message, "type": "server_error", "param": None, "code": code}}
    return b"data: " + orjson.dumps(body) + b"\n\n"
