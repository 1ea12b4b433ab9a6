"""Admission metering: rate limits and budget reservations, the types and the math both backends share.

The pipeline asks `Meter.admit` before forwarding, then `settle`s the real usage or `release`s.

**Windows are GCRA buckets** (the generic cell rate algorithm: a token bucket kept as one number).
A limit of L per window W is a bucket of L tokens refilling at L/W; its whole state is the
"theoretical arrival time" (TAT), the instant the bucket will be full again. A charge of c tokens
moves TAT to max(TAT, now) + c·W/L and fits when the new TAT is at most now + W. Why GCRA and not a
sliding window: one number per scope and limit (one Redis key that expires when the bucket is full);
the same double operations in Lua and Python give the same answers; `retry_after` is exact
(new TAT − W − now, in milliseconds); a refund on settlement is a subtraction; and TAT − now is
OpenAI's `x-ratelimit-reset-*` ("until the limit is back to its initial state"). Burst is the full
limit: a fresh key may send L requests at once, then L per window, so any span of W admits at most
2·L, as with every token bucket; the sustained rate is exactly L per W.

**Budgets** are counters (spent, reserved) per budget and period, in integer nano-euros. Admission
reserves the worst-case cost when spent + reserved + cost ≤ limit; settlement swaps the reservation
for the real cost. While real costs stay within their reservations, spent + reserved never passes the
limit under any concurrency; a real cost above its estimate overspends by that excess only.
Each reservation is held with an expiry (`reservation_ttl_s`): one never settled (a crashed replica)
is given back by the first admission touching that budget after the expiry, so it locks budget for
at most the TTL. The TTL must exceed the longest a request may run (`upstream_timeout_s`, plus the
stream): a reservation settled after its expiry is still billed, but was not held meanwhile.

Amounts must stay below 2**53 nano-euros (≈ 9 million EUR) so that Lua's doubles compare them exactly.
Keys and counters carry ids and numbers only, never content.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, Protocol

from llmaas.errors import InternalError, LlmaasError
from llmaas.wire.durations import duration

MAX_NANO = 2**53 - 1
EPSILON_MS = 1.0  # absorbs the float rounding of TATs near 1.7e12 ms: at most 1 ms of refill early
BUDGET_GRACE_MS = 7 * 86_400_000  # a month's counters outlive it: late settlements still land
WINDOWS_MS = {
    "requests_per_minute": 60_000,
    "tokens_per_minute": 60_000,
    "output_tokens_per_hour": 3_600_000,
    "output_tokens_per_day": 86_400_000,
}
_LIMIT_NAMES = {
    "requests_per_minute": "requests per minute (RPM)",
    "tokens_per_minute": "tokens per minute (TPM)",
    "output_tokens_per_hour": "output tokens per hour",
    "output_tokens_per_day": "output tokens per day",
}
BUDGET_NAMES = {
    "key_budget": "key budget",
    "tenant_cap": "tenant monthly cap",
    "prepaid_credit": "prepaid credit",
}
_PERIOD = re.compile(r"(\d{4})-(0[1-9]|1[0-2])")

BudgetKind = Literal["key_budget", "tenant_cap", "prepaid_credit"]


@dataclass(frozen=True)
class Limits:
    """Rate limits of one scope; None is unlimited."""

    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None  # input + output tokens
    output_tokens_per_hour: int | None = None
    output_tokens_per_day: int | None = None

    def __post_init__(self) -> None:
        for name in WINDOWS_MS:
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be positive or None (unlimited), not {value}")


@dataclass(frozen=True)
class Budget:
    """One spending limit a request must fit in; (kind, scope, period) names its counter."""

    scope: str  # "key:12", "tenant:3"
    kind: BudgetKind
    limit_nano: int  # the monthly cap, or for prepaid credit the credit granted
    period: str  # "2026-11" for monthly budgets; "all" for prepaid credit (never resets)

    def __post_init__(self) -> None:
        if not 0 <= self.limit_nano <= MAX_NANO:
            raise ValueError(f"limit_nano must be within 0..{MAX_NANO}")
        if self.period != "all" and not _PERIOD.fullmatch(self.period):
            raise ValueError(f"period must be YYYY-MM or 'all', not {self.period!r}")


@dataclass(frozen=True)
class Admission:
    """What the pipeline asks before forwarding a request."""

    request_id: str
    limit_scopes: list[tuple[str, Limits]]  # the key's first: its state feeds the x-ratelimit-* headers
    budgets: list[Budget]
    estimated_tokens: int  # estimated prompt tokens + max output tokens: the worst case
    reserved_nano: int  # worst-case cost
    max_output_tokens: int | None = None  # held on the output-token windows; None: estimated_tokens

    def __post_init__(self) -> None:
        if self.estimated_tokens < 0 or (self.max_output_tokens or 0) < 0:
            raise ValueError("token estimates cannot be negative")
        if not 0 <= self.reserved_nano <= MAX_NANO:
            raise ValueError(f"reserved_nano must be within 0..{MAX_NANO}")


@dataclass(frozen=True)
class Charge:
    """Tokens taken from one bucket (scope × limit) at admission."""

    scope: str
    limit_name: str  # a field of Limits
    limit: int
    cost: int

    @property
    def window_ms(self) -> int:
        return WINDOWS_MS[self.limit_name]


@dataclass(frozen=True)
class Reservation:
    """What settle and release need: the held charges and amounts."""

    id: str  # unique per admission; request ids come from clients and may repeat
    request_id: str
    charges: tuple[Charge, ...]
    budgets: tuple[Budget, ...]
    reserved_nano: int


@dataclass(frozen=True)
class LimitState:
    """The requests and tokens buckets that bind first after admission, for x-ratelimit-*."""

    limit_requests: int | None
    remaining_requests: int | None
    reset_requests_s: float | None
    limit_tokens: int | None
    remaining_tokens: int | None
    reset_tokens_s: float | None


@dataclass(frozen=True)
class BudgetUsage:
    spent_nano: int
    reserved_nano: int


class RateLimited(LlmaasError):
    """429 rate_limit_exceeded; `retry_after_s` is None when the request exceeds the limit itself."""

    status_code = 429
    type = "requests"
    default_code = "rate_limit_exceeded"

    def __init__(self, charge: Charge, *, wait_ms: int | None) -> None:
        what = f"{_LIMIT_NAMES[charge.limit_name]} on {charge.scope}"
        if wait_ms is None:
            message = (
                f"Request too large for {what}: limit {charge.limit}, requested {charge.cost}. "
                "Lower max_tokens or shorten the input."
            )
        else:
            message = (
                f"Rate limit reached for {what}: limit {charge.limit}. "
                f"Please try again in {duration(wait_ms / 1000)}."
            )
        super().__init__(message)
        self.type = "requests" if charge.limit_name == "requests_per_minute" else "tokens"  # as OpenAI
        self.scope = charge.scope
        self.limit_name = charge.limit_name  # a field of Limits
        self.retry_after_s: float | None = None if wait_ms is None else wait_ms / 1000


class QuotaExceeded(LlmaasError):
    """429 insufficient_quota: the worst-case cost does not fit in a budget; retrying will not help."""

    status_code = 429
    type = "insufficient_quota"
    default_code = "insufficient_quota"

    def __init__(self, budget: Budget) -> None:
        name = BUDGET_NAMES[budget.kind]
        during = "" if budget.period == "all" else f" for {budget.period}"
        super().__init__(
            f"You exceeded your {name}{during}: this request's worst-case cost does not fit in what "
            "remains. Lower max_tokens, or ask the operator to raise the limit."
        )
        self.budget = budget


class MeterUnavailable(LlmaasError):
    """503: the shared store of limits and budgets (Redis) cannot be reached; nothing is admitted
    unmetered, so the request is refused as retryable."""

    status_code = 503
    type = "server_error"
    default_code = "meter_unavailable"
    retry_after_s = 1.0


class BudgetUnseeded(InternalError):
    """The shared store holds no counter for this budget (a new budget, or Redis lost its data):
    seed it from the ledger, then admit again. Never reaches a client."""

    def __init__(self, budget: Budget) -> None:
        super().__init__(budget.scope)
        self.budget = budget


class Meter(Protocol):
    async def admit(self, admission: Admission) -> tuple[Reservation, LimitState]:
        """Check every rate limit then every budget; record all of it, or raise and record nothing."""
        ...

    async def settle(
        self, reservation: Reservation, *, cost_nano: int, tokens: int, output_tokens: int
    ) -> None:
        """Replace the reservation with the real usage. Call once; `release` instead when nothing was used."""
        ...

    async def release(self, reservation: Reservation) -> None:
        """Undo the reservation; the request still counts against requests per minute, as at OpenAI."""
        ...

    async def seed_spent(self, budget: Budget, spent_nano: int) -> None:
        """Set a budget's spent-so-far from the ledger, unless its counter already exists."""
        ...

    async def usage(self, budget: Budget) -> BudgetUsage: ...

    async def close(self) -> None: ...


# -- the math both backends share (redis.py's Lua mirrors it line for line) -----------------------


def charges(admission: Admission) -> tuple[Charge, ...]:
    output = admission.max_output_tokens
    if output is None:
        output = admission.estimated_tokens
    costs = {
        "requests_per_minute": 1,
        "tokens_per_minute": admission.estimated_tokens,
        "output_tokens_per_hour": output,
        "output_tokens_per_day": output,
    }
    return tuple(
        Charge(scope, name, limit, costs[name])
        for scope, limits in admission.limit_scopes
        for name in WINDOWS_MS
        if (limit := getattr(limits, name)) is not None
    )


def gcra(tat: float | None, now_ms: float, charge: Charge) -> tuple[float, int | None]:
    """The bucket's TAT after this charge, and the wait in ms before it fits: 0 now, None never."""
    if charge.cost > charge.limit:
        return now_ms, None
    start = now_ms if tat is None or tat < now_ms else tat
    new = start + charge.cost * (charge.window_ms / charge.limit)
    wait = new - charge.window_ms - now_ms
    return new, math.ceil(wait) if wait > EPSILON_MS else 0


def refunded(tat: float | None, now_ms: float, charge: Charge, refund: int) -> float | None:
    """The TAT after giving back `refund` tokens (negative: taking more); None when the bucket is full."""
    start = now_ms if tat is None or tat < now_ms else tat
    new = start - refund * (charge.window_ms / charge.limit)
    return new if new > now_ms else None


def refunds(reservation: Reservation, *, tokens: int, output_tokens: int) -> list[tuple[Charge, int]]:
    """Per bucket, the tokens held at admission minus those really used (requests stay counted)."""
    if tokens < 0 or output_tokens < 0:
        raise ValueError("usage cannot be negative")
    used = {
        "tokens_per_minute": tokens,
        "output_tokens_per_hour": output_tokens,
        "output_tokens_per_day": output_tokens,
    }
    pairs = [(c, c.cost - used[c.limit_name]) for c in reservation.charges if c.limit_name in used]
    return [(charge, refund) for charge, refund in pairs if refund != 0]


def first_failure(outcomes: list[tuple[Charge, int | None]]) -> RateLimited | None:
    """The limit to report: one the request can never fit, else the longest wait (when all fit)."""
    worst: tuple[Charge, int] | None = None
    for charge, wait in outcomes:
        if wait is None:
            return RateLimited(charge, wait_ms=None)
        if wait > 0 and (worst is None or wait > worst[1]):
            worst = (charge, wait)
    if worst is None:
        return None
    charge, wait = worst
    return RateLimited(charge, wait_ms=wait)


def limit_state(admission: Admission, held: list[tuple[Charge, float]], now_ms: float) -> LimitState:
    """Limit, remaining and time-to-full of the RPM and TPM buckets that bind first: the key's own, or
    its tenant's when those leave less room (or the key has none)."""
    state: dict[str, tuple[int, int, float]] = {}
    for charge, tat in held:
        if charge.limit_name in ("requests_per_minute", "tokens_per_minute"):
            room = now_ms + charge.window_ms + EPSILON_MS - tat
            remaining = min(charge.limit, max(0, math.floor(room / (charge.window_ms / charge.limit))))
            reset_s = max(0.0, tat - now_ms) / 1000
            known = state.get(charge.limit_name)
            if known is None or remaining < known[1]:
                state[charge.limit_name] = (charge.limit, remaining, reset_s)
    rpm = state.get("requests_per_minute", (None, None, None))
    tpm = state.get("tokens_per_minute", (None, None, None))
    return LimitState(rpm[0], rpm[1], rpm[2], tpm[0], tpm[1], tpm[2])


@functools.lru_cache(maxsize=64)  # a handful of periods, asked on every request
def period_end_ms(period: str) -> int | None:
    """When a budget's counters may go: a grace after its month ends; None for prepaid credit."""
    match = _PERIOD.fullmatch(period)
    if match is None:
        return None
    year, month = int(match[1]), int(match[2])
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
    return int(end.timestamp() * 1000) + BUDGET_GRACE_MS

