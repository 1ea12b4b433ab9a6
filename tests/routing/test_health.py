"""Active health checks: a refused connection ejects at once, one slow answer does not."""

from __future__ import annotations

import asyncio

import aiohttp

from llmaas.routing import Router, UpstreamPool, UpstreamTarget
from tests.servers import free_port


async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await asyncio.sleep(1)  # accepts, never answers within the probe's timeout
    writer.close()


def test_a_slow_probe_is_forgiven_once_and_a_refused_one_never() -> None:
    async def scenario() -> None:
        server = await asyncio.start_server(silent, "127.0.0.1", 0)
        slow = UpstreamTarget(base_url=f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1",
                              model="m", healthy=True)
        dead = UpstreamTarget(base_url=f"http://127.0.0.1:{free_port()}/v1", model="m", healthy=True)
        router = Router({"m": UpstreamPool("m", [slow, dead])})
        async with aiohttp.ClientSession() as session:
            await router.check_health(session, timeout_s=0.2)
            assert slow.healthy and not dead.healthy
            await router.check_health(session, timeout_s=0.2)
            assert not slow.healthy
        server.close()
        await asyncio.sleep(1.1)  # let the handlers hang up
        await server.wait_closed()

    asyncio.run(scenario())
