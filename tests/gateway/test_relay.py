"""The upstream client against an engine that closes keep-alive connections it advertised."""

from __future__ import annotations

import asyncio

import orjson

from llmaas.gateway.relay import UpstreamClient
from llmaas.routing import UpstreamPool, UpstreamTarget

BODY = orjson.dumps({"ok": True})


async def closing_engine(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Answers one request with `Connection: keep-alive`, then hangs up, as llama-server does."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                       if line.lower().startswith(b"content-length")), 0)
        await reader.readexactly(length)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: keep-alive\r\n"
                     b"Content-Length: %d\r\n\r\n%s" % (len(BODY), BODY))
        await writer.drain()
        await asyncio.sleep(0.05)
    finally:
        writer.close()
        await writer.wait_closed()


def test_a_connection_the_engine_closed_is_retried_not_held_against_it() -> None:
    async def scenario() -> None:
        server = await asyncio.start_server(closing_engine, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        target = UpstreamTarget(base_url=f"http://127.0.0.1:{port}/v1", model="m", healthy=True)
        pool = UpstreamPool("m", [target], max_in_flight=1)
        client = UpstreamClient(timeout_s=5)
        try:
            for _ in range(5):
                async with client.post(pool, "/chat/completions", json=lambda t: {"x": 1}) as (
                    _target,
                    response,
                ):
                    assert await response.read() == BODY
                # The next request goes out at once, on the pooled connection the engine is closing.
            assert target.healthy and target.outstanding == 0 and pool.in_flight == 0
        finally:
            await client.close()
            await asyncio.sleep(0.1)  # let the last handler hang up
            server.close()
            await server.wait_closed()

    asyncio.run(scenario())
