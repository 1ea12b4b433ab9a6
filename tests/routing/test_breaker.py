from __future__ import annotations

from llmaas.routing.breaker import CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_failures_open_the_circuit_and_one_probe_closes_it() -> None:
    clock = Clock()
    breaker = CircuitBreaker(threshold=2, base_cooldown_s=2, clock=clock)
    breaker.failure()
    assert breaker.state == "closed" and breaker.available()
    breaker.failure()
    assert breaker.state == "open" and not breaker.available()
    clock.now += 2
    assert breaker.state == "half-open" and breaker.available()
    breaker.begin()
    assert not breaker.available(), "only one probe at a time"
    breaker.success()
    assert breaker.state == "closed" and breaker.available()


def test_a_failed_probe_opens_it_for_longer() -> None:
    clock = Clock()
    breaker = CircuitBreaker(threshold=1, base_cooldown_s=2, max_cooldown_s=5, clock=clock)
    breaker.failure()
    clock.now += 2
    breaker.begin()
    breaker.failure()
    clock.now += 3.9
    assert breaker.state == "open", "the second trip waits 4 s"
    clock.now += 0.2
    breaker.begin()
    breaker.failure()
    clock.now += 4.9
    assert breaker.state == "open"
    clock.now += 0.2
    assert breaker.state == "half-open", "capped at max_cooldown_s"


def test_a_success_resets_the_count() -> None:
    breaker = CircuitBreaker(threshold=3)
    breaker.failure()
    breaker.failure()
    breaker.success()
    breaker.failure()
    breaker.failure()
    assert breaker.state == "closed"
