"""Failed authentications throttled per client address: a burst, then a steady trickle, then 429.

Each address has one number, the theoretical arrival time of its next failure (GCRA, as the meter's
rate limits): a failure moves it on by `interval`; while it runs further ahead of now than the burst
allows, the address is refused before its credential is even looked at, valid or not, so guessing
keys or the admin token from one address costs `interval` per guess. IPv6 clients are counted per
/64, the block one host usually holds.

With Redis (`redis_url`), replicas share the count (`SharedFailedAuthentications`): each failure
moves the address's time on in Redis, atomically, and when it crosses the burst the address is
announced blocked to every replica over pub/sub, so each keeps refusing it from memory: a
credential's check costs no round trip, only a failure does. Without Redis (or while it cannot be
reached) each replica counts alone, and an attacker spreading guesses over N replicas gets N times
the rate. Behind a proxy, the address is the one the proxy reports (`trusted_proxies`).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import time

from redis.asyncio import Redis
from redis.exceptions import RedisError

from llmaas.errors import TooManyFailedAuthentications

log = logging.getLogger(__name__)

_REDIS_TIMEOUT_S = 2.0  # a failure's count in Redis; past it, the replica counts it alone
_MAX_ADDRESSES = 100_000  # tracked at once; past it, those that are back to a full burst are dropped


class FailedAuthentications:
    """One replica's failed authentications, per client address.

        throttle = FailedAuthentications(burst=20, per_minute=30)
        throttle.check(address)         # TooManyFailedAuthentications (429) while the address is blocked
        await throttle.failed(address)  # after a missing or wrong credential
    """

    def __init__(self, *, burst: int, per_minute: float) -> None:
        self._interval = 60.0 / per_minute
        self._tolerance = self._interval * (burst - 1)
        self._next: dict[str, float] = {}  # address -> theoretical arrival time of its next failure

    def check(self, address: str | None) -> None:
        ahead = self._next.get(_bucket(address), 0.0) - time.monotonic()
        if ahead > self._tolerance:
            raise TooManyFailedAuthentications(
                "Too many failed authentications from this address; retry later.",
                retry_after_s=ahead - self._tolerance,
            )

    async def failed(self, address: str | None) -> None:
        self._count(_bucket(address))

    async def start(self) -> None:
        """Begin what runs beside requests (nothing, in one replica alone)."""

    async def close(self) -> None:
        """Stop it."""

    def _count(self, bucket: str) -> None:
        now = time.monotonic()
        self._set(bucket, max(self._next.get(bucket, now), now) + self._interval)

    def _set(self, bucket: str, next_failure: float) -> None:
        if len(self._next) >= _MAX_ADDRESSES and bucket not in self._next:
            now = time.monotonic()
            self._next = {a: t for a, t in self._next.items() if t > now}
            if len(self._next) >= _MAX_ADDRESSES:  # all of them failing now: start afresh
                self._next.clear()
        self._next[bucket] = next_failure


# KEYS[1]: the address's time of its next failure, in Redis's clock (ms). ARGV: interval and tolerance
# (ms), the channel, the address. Returns how far ahead of now that time is, after this failure.
_FAIL = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval, tolerance = tonumber(ARGV[1]), tonumber(ARGV[2])
local next_failure = math.max(tonumber(redis.call('GET', KEYS[1]) or '0'), now) + interval
redis.call('SET', KEYS[1], next_failure, 'PX', next_failure - now)
local ahead = next_failure - now
if ahead > tolerance then redis.call('PUBLISH', ARGV[3], ahead .. ' ' .. ARGV[4]) end
return ahead
"""


class SharedFailedAuthentications(FailedAuthentications):
    """Failed authentications counted in Redis for every replica; it owns `client` and closes it.

        throttle = SharedFailedAuthentications(Redis.from_url(url), burst=20, per_minute=30)
        await throttle.start()  # listens for the addresses other replicas block
    """

    def __init__(self, client: Redis, *, burst: int, per_minute: float, prefix: str = "llmaas:") -> None:
        super().__init__(burst=burst, per_minute=per_minute)
        self._redis = client
        self._prefix = f"{prefix}auth-failures:"
        self._channel = f"{prefix}auth-blocked"
        self._script = client.register_script(_FAIL)
        self._listener: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()  # cleared while Redis cannot be reached
        self._alone = False  # counting failures alone: Redis could not be reached

    async def failed(self, address: str | None) -> None:
        bucket = _bucket(address)
        try:
            async with asyncio.timeout(_REDIS_TIMEOUT_S):
                ahead_ms = await self._script(
                    keys=[self._prefix + bucket],
                    args=[max(1, round(self._interval * 1000)), round(self._tolerance * 1000), self._channel,
                          bucket])
        except (RedisError, OSError, TimeoutError):
            if not self._alone:  # once per outage, not once per failure
                log.warning("Redis unreachable: failed authentications are counted by this replica alone")
                self._alone = True
            self._count(bucket)
            return
        self._alone = False
        self._learn(bucket, int(ahead_ms))

    async def start(self) -> None:
        self._listener = asyncio.create_task(self._listen())
        # Until subscribed, blocks announced elsewhere would be missed; a Redis that is down is not
        # waited for long.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._subscribed.wait(), _REDIS_TIMEOUT_S)

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            await asyncio.gather(self._listener, return_exceptions=True)
        await self._redis.aclose()

    def _learn(self, bucket: str, ahead_ms: int) -> None:
        """The address's next failure is `ahead_ms` from now, in any replica's count."""
        next_failure = time.monotonic() + ahead_ms / 1000
        if next_failure > self._next.get(bucket, 0.0):
            self._set(bucket, next_failure)

    async def _listen(self) -> None:
        while True:
            try:
                async with self._redis.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(self._channel)
                    self._subscribed.set()
                    async for message in pubsub.listen():
                        ahead, _, bucket = message["data"].decode().partition(" ")
                        self._learn(bucket, int(ahead))
            except (RedisError, OSError, ValueError):
                if self._subscribed.is_set():  # once per outage
                    log.warning("Redis unreachable: blocks by other replicas are not heard until it is back")
                    self._subscribed.clear()
                await asyncio.sleep(1)


def _bucket(address: str | None) -> str:
    if address is None:
        return "-"
    if ":" not in address:
        return address
    try:  # IPv6: its /64
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    except ValueError:
        return address
