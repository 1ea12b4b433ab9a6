"""Failed authentications throttled per client address: a burst, then a steady trickle, then 429.

Each address has one number, the theoretical arrival time of its next failure (GCRA, as the meter's
rate limits): a failure moves it on by `interval`; while it runs further ahead of now than the burst
allows, the address is refused before its credential is even looked at, valid or not, so guessing
keys or the admin token from one address costs `interval` per guess. IPv6 clients are counted per
/64, the block one host usually holds.

The counters are per gateway replica (an attacker spreading guesses over N replicas gets N times the
rate); behind a proxy, the address is the one the proxy reports (`trusted_proxies`).
"""

from __future__ import annotations

import ipaddress
import time

from llmaas.errors import TooManyFailedAuthentications

_MAX_ADDRESSES = 100_000  # tracked at once; past it, those that are back to a full burst are dropped


class FailedAuthentications:
    """One replica's failed authentications, per client address.

        throttle = FailedAuthentications(burst=20, per_minute=30)
        throttle.check(address)     # TooManyFailedAuthentications (429) while the address is blocked
        throttle.failed(address)    # after a missing or wrong credential
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

    def failed(self, address: str | None) -> None:
        bucket, now = _bucket(address), time.monotonic()
        if len(self._next) >= _MAX_ADDRESSES and bucket not in self._next:
            self._next = {a: t for a, t in self._next.items() if t > now}
            if len(self._next) >= _MAX_ADDRESSES:  # all of them failing now: start afresh
                self._next.clear()
        self._next[bucket] = max(self._next.get(bucket, now), now) + self._interval


def _bucket(address: str | None) -> str:
    if address is None:
        return "-"
    if ":" not in address:
        return address
    try:  # IPv6: its /64
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    except ValueError:
        return address
