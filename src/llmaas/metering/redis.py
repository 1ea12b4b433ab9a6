"""The Redis meter: limits and budgets shared by every gateway replica.

Atomicity: Redis runs one script at a time, and nothing else between its commands. `admit` is one
script that reads every bucket and budget, refuses before writing anything, or else writes all the
charges and reservations; settle, release and seeding are one script each. So two replicas cannot
both pass a check that only one of them fits, and a refusal changes no counter. Every key a script
touches is passed in KEYS (EVALSHA; a script is loaded again after a Redis restart). Scripts
travel pipelined on one connection of their own (pipelining.py).

Keys, with ids and numbers only:
    {prefix}rate:{scope}:{limit}                   GCRA TAT in ms; expires when the bucket is full
    {prefix}budget:{kind}:{scope}:{period}         hash: spent, reserved, r:{reservation} = nano-euros
    {prefix}budget:{kind}:{scope}:{period}:holds   zset: reservation → expiry, for the crash sweep
Monthly budget keys expire a grace after their month (meter.BUDGET_GRACE_MS); prepaid credit never.

Time: the injected clock, or by default the Redis server's clock (TIME), so that replicas agree.
Money stays exact: increments are Redis integers fed from strings; Lua's doubles only compare
amounts below 2**53.
"""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Callable
from typing import Any

import orjson
from redis.asyncio import BlockingConnectionPool, Redis
from redis.exceptions import RedisError

from llmaas.metering.meter import (
    EPSILON_MS,
    Admission,
    Budget,
    BudgetUnseeded,
    BudgetUsage,
    LimitState,
    MeterUnavailable,
    QuotaExceeded,
    RateLimited,
    Reservation,
    charges,
    limit_state,
    period_end_ms,
    refunds,
)
from llmaas.metering.pipelining import Pipeliner

_UNREACHABLE = "Limits and budgets cannot be checked right now; retry shortly."


def _pack(args: list[str | int]) -> bytes:
    """The scripts' arguments as one JSON array of strings (decoded by `cjson` in the script)."""
    return orjson.dumps([str(arg) for arg in args])

_COMMON = """
-- All arguments arrive as one JSON array of strings: redis-py encodes each argument of a call
-- separately, and with forty-odd per admission that packing was a quarter of the meter's time.
local A = cjson.decode(ARGV[1])
local now = tonumber(A[1])
if now < 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
end
local function num(x) return string.format('%.17g', x) end
-- A budget's keys live a grace after its month, and at least an hour; prepaid credit ('') forever.
local function keep(h, z, ends)
  if ends == '' then return end
  local ms = string.format('%d', math.max(tonumber(ends) - now, 3600000))
  redis.call('PEXPIRE', h, ms)
  redis.call('PEXPIRE', z, ms)
end
-- Give back a held reservation, once; HINCRBY takes the stored string, so money never becomes a double.
local function unhold(h, z, id)
  local held = redis.call('HGET', h, 'r:' .. id)
  if held then
    redis.call('HINCRBY', h, 'reserved', '-' .. held)
    redis.call('HDEL', h, 'r:' .. id)
  end
  redis.call('ZREM', z, id)
end
"""

# KEYS: a bucket per charge, then (counters, holds) per budget.
# arguments (packed): now_ms (-1: server clock), reservation id, ttl_ms, #charges, #budgets,
#       then (limit, window_ms, cost) per charge, then (limit_nano, amount_nano, end_ms|'') per budget.
_ADMIT = _COMMON + """
local id, ttl, nc, nb = A[2], tonumber(A[3]), tonumber(A[4]), tonumber(A[5])
local tats, worst, worst_wait = {}, 0, 0
local strict = A[6 + nc * 3 + nb * 3] == '1'
for i = 1, nc do
  local a = 5 + (i - 1) * 3
  local limit, window, cost = tonumber(A[a + 1]), tonumber(A[a + 2]), tonumber(A[a + 3])
  if cost > limit then return {0, i, -1} end
  local tat = tonumber(redis.call('GET', KEYS[i])) or now
  if tat < now then tat = now end
  tats[i] = tat + cost * (window / limit)
  local wait = tats[i] - window - now
  if wait > @EPS@ and math.ceil(wait) > worst_wait then worst, worst_wait = i, math.ceil(wait) end
end
if worst > 0 then return {0, worst, worst_wait} end
for j = 1, nb do
  local h, z, a = KEYS[nc + 2 * j - 1], KEYS[nc + 2 * j], 5 + nc * 3 + (j - 1) * 3
  for _, expired in ipairs(redis.call('ZRANGEBYSCORE', z, '-inf', num(now))) do unhold(h, z, expired) end
  local c = redis.call('HMGET', h, 'spent', 'reserved')
  if strict and not c[1] then return {-2, j} end  -- unseeded, or Redis lost it: ask the ledger first
  if tonumber(A[a + 1]) - (tonumber(c[1]) or 0) - (tonumber(c[2]) or 0) < tonumber(A[a + 2]) then
    return {-1, j}
  end
end
local out = {1, num(now)}
for i = 1, nc do
  local ms = math.ceil(tats[i] - now)
  if ms > 0 then redis.call('SET', KEYS[i], num(tats[i]), 'PX', string.format('%d', ms))
  else redis.call('DEL', KEYS[i]) end
  out[#out + 1] = num(tats[i])
end
for j = 1, nb do
  local h, z, a = KEYS[nc + 2 * j - 1], KEYS[nc + 2 * j], 5 + nc * 3 + (j - 1) * 3
  if A[a + 2] ~= '0' then
    redis.call('HINCRBY', h, 'reserved', A[a + 2])
    redis.call('HSET', h, 'r:' .. id, A[a + 2])
    redis.call('ZADD', z, num(now + ttl), id)
  end
  keep(h, z, A[a + 3])
end
return out
""".replace("@EPS@", repr(EPSILON_MS))

# KEYS: a bucket per refund, then (counters, holds) per budget.
# arguments (packed): now_ms, reservation id, #refunds, #budgets, cost_nano,
#       then (limit, window_ms, refund) per refund, then end_ms|'' per budget.
_SETTLE = _COMMON + """
local id, nr, nb, cost = A[2], tonumber(A[3]), tonumber(A[4]), A[5]
for i = 1, nr do
  local a = 5 + (i - 1) * 3
  local limit, window, refund = tonumber(A[a + 1]), tonumber(A[a + 2]), tonumber(A[a + 3])
  local tat = tonumber(redis.call('GET', KEYS[i])) or now
  if tat < now then tat = now end
  tat = tat - refund * (window / limit)
  if tat > now then redis.call('SET', KEYS[i], num(tat), 'PX', string.format('%d', math.ceil(tat - now)))
  else redis.call('DEL', KEYS[i]) end
end
for j = 1, nb do
  local h, z = KEYS[nr + 2 * j - 1], KEYS[nr + 2 * j]
  unhold(h, z, id)  -- a no-op when the reservation expired and was swept: it is not given back twice
  if cost ~= '0' then redis.call('HINCRBY', h, 'spent', cost) end
  keep(h, z, A[5 + nr * 3 + j])
end
return 1
"""

# KEYS: counters, holds. Arguments: now_ms, spent_nano, end_ms|''. Replicas starting together seed once.
_SEED = _COMMON + """
if redis.call('HSETNX', KEYS[1], 'spent', A[2]) == 1 then keep(KEYS[1], KEYS[2], A[3]) end
return 1
"""


class RedisMeter:
    """`Meter` in Redis; it owns `client` and closes it. `clock` returns seconds (tests inject one)."""

    def __init__(
        self,
        client: Redis,
        *,
        clock: Callable[[], float] | None = None,
        reservation_ttl_s: float = 3600.0,
        prefix: str = "llmaas:",
        require_seeded: bool = False,
    ) -> None:
        """`require_seeded`: refuse to treat a missing budget counter as zero spent; admit raises
        BudgetUnseeded instead, so the caller seeds it from the ledger (the gateway does)."""
        self._require_seeded = require_seeded
        self._redis = client
        self._clock = clock
        self._ttl_ms = round(reservation_ttl_s * 1000)
        self._prefix = prefix
        # Reservation ids: this meter's random prefix and a serial, unique across replicas without
        # uuid4's system call per request.
        self._replica = secrets.token_hex(8)
        self._serials = itertools.count()
        self._admit = client.register_script(_ADMIT)
        self._settle = client.register_script(_SETTLE)
        self._seed = client.register_script(_SEED)
        self._scripts = Pipeliner(client)

    @classmethod
    def from_url(cls, url: str, *, max_connections: int = 64, **options: Any) -> RedisMeter:
        """A meter on its own pool. redis-py's default pool raises past 100 requests in flight;
        this one makes the 65th wait for a free connection (up to 10 s) instead."""
        pool = BlockingConnectionPool.from_url(url, max_connections=max_connections, timeout=10)
        return cls(Redis.from_pool(pool), **options)

    async def prepare(self) -> None:
        """Load the scripts now (at start-up), so the first requests do not each find them missing."""
        for script in (_ADMIT, _SETTLE, _SEED):
            await self._redis.script_load(script)

    async def admit(self, admission: Admission) -> tuple[Reservation, LimitState]:
        held = charges(admission)
        reservation = Reservation(
            id=f"{self._replica}{next(self._serials):x}",
            request_id=admission.request_id,
            charges=held,
            budgets=tuple(admission.budgets),
            reserved_nano=admission.reserved_nano,
        )
        args: list[str | int] = [self._now(), reservation.id, self._ttl_ms, len(held), len(admission.budgets)]
        for charge in held:
            args += [charge.limit, charge.window_ms, charge.cost]
        for budget in admission.budgets:
            args += [budget.limit_nano, admission.reserved_nano, _end(budget)]
        args.append(1 if self._require_seeded else 0)
        keys = [self._rate_key(c.scope, c.limit_name) for c in held] + self._budget_keys(admission.budgets)
        try:
            reply = await self._scripts.run(self._admit, keys=keys, args=[_pack(args)])
        except RedisError as error:
            raise MeterUnavailable(_UNREACHABLE) from error
        if reply[0] == 0:  # the script picked the limit to report, as first_failure does
            raise RateLimited(held[reply[1] - 1], wait_ms=None if reply[2] < 0 else reply[2])
        if reply[0] == -1:
            raise QuotaExceeded(admission.budgets[reply[1] - 1])
        if reply[0] == -2:
            raise BudgetUnseeded(admission.budgets[reply[1] - 1])
        tats = [float(tat) for tat in reply[2:]]
        return reservation, limit_state(admission, list(zip(held, tats, strict=True)), float(reply[1]))

    async def settle(
        self, reservation: Reservation, *, cost_nano: int, tokens: int, output_tokens: int
    ) -> None:
        if cost_nano < 0:
            raise ValueError("cost_nano cannot be negative")
        given_back = refunds(reservation, tokens=tokens, output_tokens=output_tokens)
        args: list[str | int] = [self._now(), reservation.id, len(given_back)]
        args += [len(reservation.budgets), cost_nano]
        for charge, refund in given_back:
            args += [charge.limit, charge.window_ms, refund]
        args += [_end(budget) for budget in reservation.budgets]
        keys = [self._rate_key(c.scope, c.limit_name) for c, _ in given_back]
        try:
            await self._scripts.run(self._settle, keys=keys + self._budget_keys(reservation.budgets),
                                    args=[_pack(args)])
        except RedisError as error:
            raise MeterUnavailable("The reservation could not be settled.") from error

    async def release(self, reservation: Reservation) -> None:
        await self.settle(reservation, cost_nano=0, tokens=0, output_tokens=0)

    async def seed_spent(self, budget: Budget, spent_nano: int) -> None:
        if spent_nano < 0:
            raise ValueError("spent_nano cannot be negative")
        try:
            await self._scripts.run(self._seed, keys=self._budget_keys([budget]),
                                    args=[_pack([self._now(), spent_nano, _end(budget)])])
        except RedisError as error:
            raise MeterUnavailable(_UNREACHABLE) from error

    async def usage(self, budget: Budget) -> BudgetUsage:
        spent, reserved = await self._redis.hmget(self._budget_keys([budget])[0], ["spent", "reserved"])
        return BudgetUsage(int(spent or 0), int(reserved or 0))

    async def close(self) -> None:
        await self._scripts.close()
        await self._redis.aclose()

    def _now(self) -> str:
        return "-1" if self._clock is None else repr(self._clock() * 1000)

    def _rate_key(self, scope: str, limit_name: str) -> str:
        return f"{self._prefix}rate:{scope}:{limit_name}"

    def _budget_keys(self, budgets: list[Budget] | tuple[Budget, ...]) -> list[str]:
        keys = []
        for budget in budgets:
            counters = f"{self._prefix}budget:{budget.kind}:{budget.scope}:{budget.period}"
            keys += [counters, f"{counters}:holds"]
        return keys


def _end(budget: Budget) -> str:
    end = period_end_ms(budget.period)
    return "" if end is None else str(end)
