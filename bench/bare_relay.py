"""The floor under the gateway's stream relay: the same libraries, nothing of the gateway.

A raw ASGI app served as the gateway is (uvicorn with uvloop and httptools) that forwards a chat
request to the engine with aiohttp and writes each read of the engine's stream to the client as it
came: no auth, no metering, no middleware, no event parsing. What a streamed event costs it is what
the libraries and the system cost, one read and one write per event (bench/stream_events.py
`--bare`, docs/benchmarks.md section 17).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from multiprocessing.context import SpawnContext
from multiprocessing.process import BaseProcess
from typing import Any

import aiohttp
import uvicorn

from bench.common import free_port, read_body, wait_http
from bench.gateway_server import Started

_START = {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]}


@dataclass
class BareRelay:
    """The ASGI app; its aiohttp session is made on the first request, inside the server's loop."""

    upstream_url: str
    session: aiohttp.ClientSession | None = field(default=None)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = await read_body(receive)
        if scope["method"] != "POST":  # the readiness probe
            await send(_START)
            await send({"type": "http.response.body", "body": b""})
            return
        if self.session is None:
            self.session = aiohttp.ClientSession()
        async with self.session.post(f"{self.upstream_url}/chat/completions", data=body,
                                     headers={"Content-Type": "application/json"}) as response:
            await send(_START)
            async for received in response.content.iter_any():
                await send({"type": "http.response.body", "body": received, "more_body": True})
        await send({"type": "http.response.body", "body": b""})


def serve(port: int, upstream_url: str) -> None:
    """Process entry point."""
    uvicorn.Server(uvicorn.Config(
        BareRelay(upstream_url), host="127.0.0.1", port=port, loop="uvloop", http="httptools",
        lifespan="off", access_log=False, log_level="warning", backlog=4096,
    )).run()


def start(ctx: SpawnContext, processes: list[BaseProcess], *, upstream_url: str) -> Started:
    """Start `serve` in its own process (added to `processes`), once it answers; no API key."""
    port = free_port()
    process = ctx.Process(target=serve, args=(port, upstream_url), name="bare")
    process.start()
    processes.append(process)
    url = f"http://127.0.0.1:{port}"
    wait_http(f"{url}/ready", timeout_s=30, alive=process.is_alive, what="bare relay")
    report, unused = ctx.Pipe(duplex=False)
    unused.close()
    return Started(url, "", process, report)
