"""A minimal OpenAI-compatible engine for overhead benchmarks: raw ASGI, canned answers.

No framework, no per-request serialization: every answer is bytes built at import time, so the
fake costs a few tens of microseconds per request and the gateway, not the engine, dominates.

    GET  /v1/models             the model list (the gateway's health check)
    POST /v1/chat/completions   a canned completion, or with "stream": true a canned stream of
                                10 content chunks, a usage chunk and `data: [DONE]`; with
                                "seed": N (1 to 100,000), N content chunks 1 ms apart, so that
                                each reaches the gateway alone, as tokens do; "seed": -N, the N
                                chunks at once (bench/stream_events.py)
"""

from __future__ import annotations

import asyncio
import functools
import socket
from collections.abc import Sequence
from multiprocessing.context import SpawnContext
from multiprocessing.process import BaseProcess
from typing import Any

import orjson
import uvicorn

from bench.common import free_port, pin, read_body, wait_http

MODEL = "bench-chat"
STREAM_CHUNKS = 10
USAGE = {"prompt_tokens": 12, "completion_tokens": STREAM_CHUNKS, "total_tokens": 12 + STREAM_CHUNKS}

Scope = dict[str, Any]
Message = dict[str, Any]


def _chunk(index: int, chunks: int = STREAM_CHUNKS) -> bytes:
    last = index == chunks - 1
    chunk = {
        "id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1700000000,
        "model": MODEL, "system_fingerprint": "b1",
        "choices": [{"index": 0, "delta": {} if last else {"content": f" word{index}"},
                     "logprobs": None, "finish_reason": "stop" if last else None}],
    }
    return b"data: " + orjson.dumps(chunk) + b"\n\n"


_MODELS = orjson.dumps({"object": "list", "data": [{"id": MODEL, "object": "model", "owned_by": "bench"}]})
_COMPLETION = orjson.dumps({
    "id": "chatcmpl-bench", "object": "chat.completion", "created": 1700000000, "model": MODEL,
    "system_fingerprint": "b1",
    "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                 "message": {"role": "assistant",
                             "content": "".join(f" word{i}" for i in range(STREAM_CHUNKS - 1))}}],
    "usage": USAGE,
})
_STREAM = (
    *(_chunk(i) for i in range(STREAM_CHUNKS)),
    b"data: " + orjson.dumps({"id": "chatcmpl-bench", "object": "chat.completion.chunk",
                              "created": 1700000000, "model": MODEL, "choices": [],
                              "usage": USAGE}) + b"\n\n",
    b"data: [DONE]\n\n",
)


@functools.cache
def _stream_of(chunks: int) -> tuple[bytes, ...]:
    """`chunks` content chunks (the last one empty, with the finish reason), usage, [DONE]."""
    usage = {"prompt_tokens": 12, "completion_tokens": chunks, "total_tokens": 12 + chunks}
    return (*(_chunk(i, chunks) for i in range(chunks)),
            b"data: " + orjson.dumps({"id": "chatcmpl-bench", "object": "chat.completion.chunk",
                                      "created": 1700000000, "model": MODEL, "choices": [],
                                      "usage": usage}) + b"\n\n",
            b"data: [DONE]\n\n")


STREAM_BODY = b"".join(_STREAM)


def relayed(body: bytes, fingerprint: str) -> bytes:
    """What a gateway relays of `body`: the same bytes, the engine's build fingerprint replaced by its own."""
    return body.replace(b'"system_fingerprint":"b1"', b'"system_fingerprint":"%s"' % fingerprint.encode())


def _start(status: int, content_type: bytes, length: int | None) -> Message:
    headers = [(b"content-type", content_type)]
    if length is not None:
        headers.append((b"content-length", str(length).encode()))
    return {"type": "http.response.start", "status": status, "headers": headers}


_JSON_MODELS = _start(200, b"application/json", len(_MODELS))
_JSON_COMPLETION = _start(200, b"application/json", len(_COMPLETION))
_SSE = _start(200, b"text/event-stream", None)


async def app(scope: Scope, receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    if scope["method"] == "GET":
        await send(_JSON_MODELS)
        await send({"type": "http.response.body", "body": _MODELS})
        return
    body = await read_body(receive)
    request = orjson.loads(body)
    if not request.get("stream"):
        await send(_JSON_COMPLETION)
        await send({"type": "http.response.body", "body": _COMPLETION})
        return
    # One write per event, as an engine sends one per token.
    seed = request.get("seed")
    chunks = abs(seed) if isinstance(seed, int) and 0 < abs(seed) <= 100_000 else 0
    paced = chunks and seed > 0
    await send(_SSE)
    for event in _stream_of(chunks) if chunks else _STREAM:
        await send({"type": "http.response.body", "body": event, "more_body": True})
        if paced:
            await asyncio.sleep(0.001)
    await send({"type": "http.response.body", "body": b""})


def serve(port: int, cpu: int | None) -> None:
    """Process entry point: serve the fake engine on 127.0.0.1:`port`, pinned to `cpu`."""
    pin(cpu)
    uvicorn.Server(uvicorn.Config(
        app, host="127.0.0.1", port=port, loop="uvloop", http="httptools", lifespan="on",
        access_log=False, log_level="warning", backlog=4096,
    )).run()


def serve_many(ports: Sequence[int], cpu: int | None) -> None:
    """Process entry point: one fake engine listening on every port in `ports` (one event loop).

    Stands in for a pool of engines where a process per engine would swamp a small machine.
    """
    pin(cpu)
    sockets = []
    for port in ports:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        sockets.append(listener)
    uvicorn.Server(uvicorn.Config(
        app, loop="uvloop", http="httptools", lifespan="on",
        access_log=False, log_level="warning", backlog=4096,
    )).run(sockets=sockets)


def start(ctx: SpawnContext, processes: list[BaseProcess], cpu: int | None) -> tuple[str, BaseProcess]:
    """Start `serve` in its own process (added to `processes`); its base URL once it answers."""
    port = free_port()
    process = ctx.Process(target=serve, args=(port, cpu), name="fake-engine")
    process.start()
    processes.append(process)
    url = f"http://127.0.0.1:{port}"
    wait_http(f"{url}/v1/models", timeout_s=30, alive=process.is_alive, what="fake engine")
    return url, process
