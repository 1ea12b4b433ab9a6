"""Failed authentications per client address: a burst, a trickle, then 429 (issue 9)."""

from __future__ import annotations

import time

import pytest

from llmaas.auth import FailedAuthentications
from llmaas.errors import TooManyFailedAuthentications


def test_a_burst_of_failures_then_a_429_that_says_when() -> None:
    throttle = FailedAuthentications(burst=3, per_minute=60)
    for _ in range(3):
        throttle.check("10.0.0.1")
        throttle.failed("10.0.0.1")
    with pytest.raises(TooManyFailedAuthentications) as caught:
        throttle.check("10.0.0.1")
    assert caught.value.status_code == 429 and 0 < caught.value.retry_after_s <= 1
    throttle.check("10.0.0.2")  # another address is not concerned


def test_the_address_recovers_at_the_steady_rate() -> None:
    throttle = FailedAuthentications(burst=1, per_minute=600)  # one failure per 0.1 s
    throttle.failed("10.0.0.1")
    with pytest.raises(TooManyFailedAuthentications):
        throttle.check("10.0.0.1")
    time.sleep(0.12)
    throttle.check("10.0.0.1")


def test_an_ipv6_host_counts_as_its_64() -> None:
    throttle = FailedAuthentications(burst=2, per_minute=1)
    throttle.failed("2001:db8:1:2::1")
    throttle.failed("2001:db8:1:2:ffff::7")
    with pytest.raises(TooManyFailedAuthentications):
        throttle.check("2001:db8:1:2::99")
    throttle.check("2001:db8:1:3::1")


def test_memory_stays_bounded() -> None:
    throttle = FailedAuthentications(burst=5, per_minute=60)
    for index in range(150_000):
        throttle.failed(f"10.{index >> 16 & 255}.{index >> 8 & 255}.{index & 255}")
    assert len(throttle._next) <= 100_000
