"""The Redis meter's scripts, pipelined on one connection of their own.

Under load a gateway replica admits and settles many requests at once. Sent one by one through
redis-py's pool, each call paid for a pooled connection, a retry wrapper and its own round trip, and
that was most of the meter's CPU. Here one sender writes every call queued so far in one pipeline,
reads the replies in order, and meanwhile the next calls queue for the next pipeline: a lone call
goes out at once, and the busier the replica, the more calls share a round trip. Not a transaction:
each script stays atomic on its own, and Redis runs them in the order sent. Each caller gets its own
reply, or its own error.

    scripts = Pipeliner(client)
    reply = await scripts.run(client.register_script(SOURCE), keys=[...], args=[...])
"""

from __future__ import annotations

import asyncio
from typing import Any

from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError

_Call = tuple[AsyncScript, list[str], list[Any], asyncio.Future[Any]]


class Pipeliner:
    def __init__(self, client: Redis) -> None:
        self._redis = client
        pool = client.connection_pool  # its connection class and settings: address, auth, TLS
        self._connection = pool.connection_class(**pool.connection_kwargs)
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
            batch, self._queue = self._queue, []
            try:
                replies = await self._execute(batch)
                missing = [call for call, reply in zip(batch, replies, strict=True)
                           if isinstance(reply, NoScriptError)]
                if missing:  # Redis restarted and lost its scripts: load them, then run those calls again
                    for script in {call[0].sha: call[0] for call in missing}.values():
                        await self._redis.script_load(script.script)
                    again = iter(await self._execute(missing))
                    replies = [next(again) if isinstance(r, NoScriptError) else r for r in replies]
            except Exception as error:  # unreachable: this batch fails; the next one connects again
                await self._connection.disconnect(nowait=True)
                # What Redis did with a call whose reply was not read is unknown, so none is sent
                # again: its caller reports the meter unavailable.
                _fail(batch, error)
                continue
            except BaseException:  # cancelled at shutdown
                await self._connection.disconnect(nowait=True)
                _fail([*batch, *self._queue], RedisConnectionError("the meter closed"))
                self._queue = []
                raise
            for (*_, future), reply in zip(batch, replies, strict=True):
                if future.done():  # its caller was cancelled (a client left): nothing to hand over
                    continue
                if isinstance(reply, Exception):
                    future.set_exception(reply)
                else:
                    future.set_result(reply)

    async def _execute(self, calls: list[_Call]) -> list[Any]:
        connection = self._connection
        await connection.send_packed_command(connection.pack_commands(
            [("EVALSHA", script.sha, len(keys), *keys, *args) for script, keys, args, _ in calls]))
        replies: list[Any] = []
        for _ in calls:
            try:
                replies.append(await connection.read_response())
            except ResponseError as refused:  # this script's error; the next replies follow as usual
                replies.append(refused)
        return replies


def _fail(calls: list[_Call], error: Exception) -> None:
    for *_, future in calls:
        if not future.done():
            future.set_exception(error)
