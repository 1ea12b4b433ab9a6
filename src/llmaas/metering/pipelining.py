"""Redis scripts called in the same event-loop turn go out together, in one pipeline.

Under load a gateway replica admits and settles many requests at once; each call on its own costs a
pooled connection, a write and a wait, which redis-py makes the larger part of the meter's CPU. Calls
queued in one turn share one pipeline (not a transaction: each script stays atomic on its own, and
Redis runs them in order), and each caller still gets its own reply or error. A lone call costs one
extra loop turn.

    scripts = Pipeliner(client)
    reply = await scripts.run(client.register_script(SOURCE), keys=[...], args=[...])
"""

from __future__ import annotations

import asyncio
from typing import Any

from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError

_Call = tuple[AsyncScript, list[str], list[Any], asyncio.Future[Any]]


class Pipeliner:
    def __init__(self, client: Redis) -> None:
        self._redis = client
        self._queue: list[_Call] = []
        self._sending: set[asyncio.Task[None]] = set()  # held so that none is collected mid-flight

    async def run(self, script: AsyncScript, *, keys: list[str], args: list[Any]) -> Any:
        """The script's reply; a RedisError when Redis refused it or could not be reached."""
        loop = asyncio.get_running_loop()
        reply = loop.create_future()
        if not self._queue:
            loop.call_soon(self._flush)
        self._queue.append((script, keys, args, reply))
        return await reply

    def _flush(self) -> None:
        batch, self._queue = self._queue, []
        task = asyncio.create_task(self._send(batch))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _send(self, batch: list[_Call]) -> None:
        try:
            replies = await self._execute(batch)
            missing = [call for call, reply in zip(batch, replies, strict=True)
                       if isinstance(reply, NoScriptError)]
            if missing:  # Redis restarted and lost its scripts: load them, then run those calls again
                for script in {call[0].sha: call[0] for call in missing}.values():
                    await self._redis.script_load(script.script)
                again = iter(await self._execute(missing))
                replies = [next(again) if isinstance(reply, NoScriptError) else reply for reply in replies]
        except BaseException as error:  # unreachable, or this task cancelled at shutdown
            failure = error if isinstance(error, Exception) else RedisConnectionError("the meter closed")
            for *_, future in batch:
                if not future.done():
                    future.set_exception(failure)
            if not isinstance(error, Exception):
                raise
            return
        for (*_, future), reply in zip(batch, replies, strict=True):
            if future.done():  # its caller was cancelled (a client left): nothing to hand over
                continue
            if isinstance(reply, Exception):
                future.set_exception(reply)
            else:
                future.set_result(reply)

    async def _execute(self, calls: list[_Call]) -> list[Any]:
        pipeline = self._redis.pipeline(transaction=False)
        for script, keys, args, _ in calls:
            pipeline.evalsha(script.sha, len(keys), *keys, *args)
        replies: list[Any] = await pipeline.execute(raise_on_error=False)
        return replies
