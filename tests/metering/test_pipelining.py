"""Redis scripts called together share one pipeline; each caller still gets its own reply or error."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import redis.asyncio
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from llmaas.metering.pipelining import Pipeliner
from tests.servers import free_port

ECHO = "return {KEYS[1], ARGV[1]}"
FAIL_ON_NEGATIVE = "if tonumber(ARGV[1]) < 0 then return redis.error_reply('negative') end return ARGV[1]"


class CountingPipeliner(Pipeliner):
    def __init__(self, client: redis.asyncio.Redis) -> None:
        super().__init__(client)
        self.round_trips: list[int] = []

    async def _execute(self, calls: list[Any]) -> list[Any]:
        self.round_trips.append(len(calls))
        return await super()._execute(calls)


@asynccontextmanager
async def pipelined(
    client: redis.asyncio.Redis, source: str = ECHO, *, loaded: bool = True
) -> AsyncIterator[tuple[CountingPipeliner, AsyncScript]]:
    """A pipeliner on `client` and one script (loaded in Redis unless not); both closed after."""
    scripts = CountingPipeliner(client)
    script = client.register_script(source)
    try:
        if loaded:
            await client.script_load(source)
        yield scripts, script
    finally:
        await scripts.close()
        await client.aclose()


def test_calls_from_one_turn_share_one_round_trip_and_keep_their_replies(redis_url: str) -> None:
    async def main() -> None:
        async with pipelined(redis.asyncio.Redis.from_url(redis_url)) as (scripts, echo):
            replies = await asyncio.gather(*(scripts.run(echo, keys=[f"k{i}"], args=[i]) for i in range(50)))
            assert replies == [[f"k{i}".encode(), str(i).encode()] for i in range(50)]
            assert scripts.round_trips == [50]
            assert await scripts.run(echo, keys=["alone"], args=["x"]) == [b"alone", b"x"]
            assert scripts.round_trips == [50, 1]

    asyncio.run(main())


def test_one_refused_call_fails_only_its_caller(redis_url: str) -> None:
    async def main() -> None:
        async with pipelined(redis.asyncio.Redis.from_url(redis_url), FAIL_ON_NEGATIVE) as (scripts, script):
            results = await asyncio.gather(*(scripts.run(script, keys=[], args=[n]) for n in (1, -1, 2)),
                                           return_exceptions=True)
            assert results[0] == b"1" and results[2] == b"2"
            assert isinstance(results[1], ResponseError) and "negative" in str(results[1])

    asyncio.run(main())


def test_scripts_lost_by_a_restart_are_loaded_again_for_the_whole_batch(redis_url: str) -> None:
    async def main() -> None:
        client = redis.asyncio.Redis.from_url(redis_url)
        async with pipelined(client, loaded=False) as (scripts, echo):
            await client.script_flush()  # as after a Redis restart
            replies = await asyncio.gather(*(scripts.run(echo, keys=["k"], args=[i]) for i in range(5)))
            assert replies == [[b"k", str(i).encode()] for i in range(5)]
            assert scripts.round_trips == [5, 5], "one try, then one retry after loading the script"

    asyncio.run(main())


def test_an_unreachable_redis_fails_every_caller_with_a_redis_error() -> None:
    async def main() -> None:
        client = redis.asyncio.Redis(port=free_port(), retry=Retry(NoBackoff(), 0))  # fail at once
        async with pipelined(client, loaded=False) as (scripts, echo):
            results = await asyncio.gather(*(scripts.run(echo, keys=["k"], args=[i]) for i in range(3)),
                                           return_exceptions=True)
            assert all(isinstance(result, RedisConnectionError) for result in results), results

    asyncio.run(main())


def test_a_caller_that_leaves_does_not_disturb_the_others(redis_url: str) -> None:
    async def main() -> None:
        async with pipelined(redis.asyncio.Redis.from_url(redis_url)) as (scripts, echo):
            leaving = asyncio.ensure_future(scripts.run(echo, keys=["gone"], args=[0]))
            staying = asyncio.ensure_future(scripts.run(echo, keys=["here"], args=[1]))
            await asyncio.sleep(0)  # both are queued
            leaving.cancel()
            assert await staying == [b"here", b"1"]
            with pytest.raises(asyncio.CancelledError):
                await leaving

    asyncio.run(main())


def test_a_lost_connection_fails_the_batch_in_flight_and_the_next_call_connects_again(redis_url: str) -> None:
    async def main() -> None:
        async with pipelined(redis.asyncio.Redis.from_url(redis_url)) as (scripts, echo):
            assert await scripts.run(echo, keys=["k"], args=[1]) == [b"k", b"1"]
            async with redis.asyncio.Redis.from_url(redis_url) as admin:
                own = await admin.client_id()
                for connection in await admin.client_list():  # as when Redis restarts
                    if int(connection["id"]) != own:
                        await admin.client_kill_filter(_id=connection["id"])
            with pytest.raises(RedisConnectionError):
                await scripts.run(echo, keys=["k"], args=[2])
            assert await scripts.run(echo, keys=["k"], args=[3]) == [b"k", b"3"]

    asyncio.run(main())


@asynccontextmanager
async def fake_redis(answers: int, **client_options: Any) -> AsyncIterator[redis.asyncio.Redis]:
    """A client of a server that says OK to the client's hello, answers the first `answers` scripts
    with `:1`, then hangs up (answers >= 0), or never answers a script at all (answers < 0)."""

    async def command(reader: asyncio.StreamReader) -> bytes:
        count = int((await reader.readline())[1:])
        parts = [await reader.readexactly(int((await reader.readline())[1:]) + 2) for _ in range(count)]
        return parts[0][:-2].upper()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        answered = 0
        try:
            while True:
                if await command(reader) != b"EVALSHA":
                    writer.write(b"+OK\r\n")
                elif answers < 0:
                    continue
                elif answered < answers:
                    writer.write(b":1\r\n")
                    answered += 1
                else:
                    break
                await writer.drain()
        except (asyncio.IncompleteReadError, ValueError, ConnectionError):
            pass  # the client hung up
        writer.close()

    async with await asyncio.start_server(handle, "127.0.0.1", 0) as server:
        yield redis.asyncio.Redis(port=server.sockets[0].getsockname()[1], retry=Retry(NoBackoff(), 0),
                                  protocol=2, **client_options)


def test_replies_read_before_a_lost_connection_still_reach_their_callers() -> None:
    async def main() -> None:
        async with fake_redis(answers=1) as client, pipelined(client, loaded=False) as (scripts, echo):
            results = await asyncio.gather(*(scripts.run(echo, keys=["k"], args=[i]) for i in range(3)),
                                           return_exceptions=True)
        # The first script ran and its caller learns so (its reservation will be settled); what the
        # others did is unknown, and they fail rather than being sent again.
        assert results[0] == 1
        assert all(isinstance(result, RedisConnectionError) for result in results[1:]), results

    asyncio.run(main())


def test_a_redis_that_stops_answering_fails_calls_after_the_timeout() -> None:
    async def main() -> None:
        async with fake_redis(answers=-1, socket_timeout=0.2) as client, pipelined(
            client, loaded=False
        ) as (scripts, echo):
            started = asyncio.get_running_loop().time()
            with pytest.raises(RedisTimeoutError):
                await scripts.run(echo, keys=["k"], args=[1])
            assert asyncio.get_running_loop().time() - started < 2

    asyncio.run(main())


def test_a_call_whose_caller_left_before_sending_is_not_sent(redis_url: str) -> None:
    async def main() -> None:
        async with pipelined(redis.asyncio.Redis.from_url(redis_url)) as (scripts, echo):
            staying = asyncio.create_task(scripts.run(echo, keys=["here"], args=[1]))
            leaving = asyncio.create_task(scripts.run(echo, keys=["gone"], args=[0]))
            await asyncio.sleep(0)  # both queued; the sender has not run yet
            leaving.cancel()
            assert await staying == [b"here", b"1"]
            assert scripts.round_trips == [1], "only the call still awaited went out"

    asyncio.run(main())
