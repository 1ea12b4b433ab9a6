"""The Redis meter's scripts, pipelined on one connection of their own.

Under load a gateway replica admits and settles many requests at once. Sent one by one through
redis-py's pool, each call paid for a pooled connection, a retry wrapper and its own round trip, and
that was most of the meter's CPU. Here one sender writes every call queued so far in one pipeline,
reads the replies in order, and meanwhile the next calls queue for the next pipeline: a lone call
goes out at once, and the busier the replica, the more calls share a round trip. Not a transaction:
each script stays atomic on its own, and Redis runs them in the order sent. Each caller gets its own
reply, or its own error.

Per batch, not per call: the commands are packed by hiredis (in C; redis-py's asyncio connection packs in
Python), and one timeout bounds the write and every reply (redis-py arms a timer per reply and runs
each write in a task of its own). Both showed in profiles of a production gateway.

    scripts = Pipeliner(client)
    reply = await scripts.run(client.register_script(SOURCE), keys=[...], args=[...])
"""

from __future__ import annotations

import asyncio
from typing import Any

import hiredis
from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

_Call = tuple[AsyncScript, list[str], list[Any], asyncio.Future[Any]]


class Pipeliner:
    def __init__(self, client: Redis) -> None:
        self._redis = client
        # The pool's connection class and settings: address, auth, TLS. Its socket timeout (redis-py's
        # default 5 s) bounds each batch as a whole here, so a Redis that stops answering fails calls
        # instead of hanging them; left on the connection, it would cost a task per write.
        pool = client.connection_pool
        self._connection = pool.connection_class(**pool.connection_kwargs)
        self._timeout_s: float | None = self._connection.socket_timeout
        self._connection.socket_timeout = None
        self._queue: list[_Call] = []
        self._sender: asyncio.Task[None] | None = None

    async def run(self, script: AsyncScript, *, keys: list[str], args: list[Any]) -> Any:
        """The script's reply; a RedisError when Redis refused it or could not be reached."""
        reply = asyncio.get_running_loop().create_future()
        self._queue.append((script, keys, args, reply))
        if self._sender is None or self._sender.done():
            self._sender = asyncio.create_task(self._send_all())
        return await reply

    async def close(self) -> None:
        if self._sender is not None:
            self._sender.cancel()
            await asyncio.gather(self._sender, return_exceptions=True)
        await self._connection.disconnect()

    async def _send_all(self) -> None:
        while self._queue:
            # A caller that left while queued (a client gone) is not sent: its script would only
            # reserve for a request nobody waits for.
            batch = [call for call in self._queue if not call[3].done()]
            self._queue = []
            try:
                replies = await self._execute(batch)
                missing = [call for call, reply in zip(batch, replies, strict=True)
                           if isinstance(reply, NoScriptError)]
                if missing:  # Redis restarted and lost its scripts: load them, then run those calls again
                    again = iter(await self._reload_and_execute(missing))
                    replies = [next(again) if isinstance(r, NoScriptError) else r for r in replies]
            except BaseException as error:  # cancelled at shutdown (or a bug): nobody is left waiting
                await self._connection.disconnect(nowait=True)
                _fail([*batch, *self._queue], error if isinstance(error, Exception)
                      else RedisConnectionError("the meter closed"))
                self._queue = []
                raise
            for (*_, future), reply in zip(batch, replies, strict=True):
                if future.done():  # its caller was cancelled meanwhile: nothing to hand over
                    continue
                if isinstance(reply, Exception):
                    future.set_exception(reply)
                else:
                    future.set_result(reply)

    async def _reload_and_execute(self, calls: list[_Call]) -> list[Any]:
        try:
            for script in {call[0].sha: call[0] for call in calls}.values():
                await self._redis.script_load(script.script)
        except RedisError as error:
            return [error] * len(calls)
        return await self._execute(calls)

    async def _execute(self, calls: list[_Call]) -> list[Any]:
        """One reply per call: its value, its own error, or, from a lost connection on, that error.
        What Redis did with a call whose reply was never read is unknown, so none is sent again: its
        caller reports the meter unavailable. The next batch connects again."""
        connection = self._connection
        replies: list[Any] = []
        try:
            async with asyncio.timeout(self._timeout_s):  # TimeoutError is an OSError
                await connection.send_packed_command(b"".join(
                    hiredis.pack_command(("EVALSHA", script.sha, len(keys), *keys, *args))
                    for script, keys, args, _ in calls))
                for _ in calls:
                    try:
                        replies.append(await connection.read_response())
                    except ResponseError as refused:  # this script's error; the next replies follow as usual
                        replies.append(refused)
        except (RedisError, OSError) as lost:
            await connection.disconnect(nowait=True)
            failure: RedisError
            if isinstance(lost, RedisError):
                failure = lost
            elif isinstance(lost, TimeoutError):
                failure = RedisTimeoutError(f"Redis did not answer within {self._timeout_s} s")
            else:
                failure = RedisConnectionError(str(lost))
            replies += [failure] * (len(calls) - len(replies))
        return replies


def _fail(calls: list[_Call], error: Exception) -> None:
    for *_, future in calls:
        if not future.done():
            future.set_exception(error)
