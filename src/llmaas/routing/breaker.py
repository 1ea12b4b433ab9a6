"""A circuit breaker per upstream: failures open it, a single probe request closes it again.

Closed: requests flow. After `threshold` failures in a row it opens for a cool-down that doubles
with each trip (2 s, 4 s, … 60 s). Then it is half-open: one request is let through as a probe;
success closes the circuit, failure opens it again for longer.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class CircuitBreaker:
    threshold: int = 3
    base_cooldown_s: float = 2.0
    max_cooldown_s: float = 60.0
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)
    failures: int = 0
    trips: int = 0
    open_until: float = 0.0
    probing: bool = False

    @property
    def state(self) -> str:
        if self.failures < self.threshold:
            return "closed"
        return "open" if self.clock() < self.open_until else "half-open"

    def available(self) -> bool:
        state = self.state
        return state == "closed" or (state == "half-open" and not self.probing)

    def begin(self) -> None:
        """A request goes to this upstream now; in half-open state it is the probe."""
        if self.state == "half-open":
            self.probing = True

    def success(self) -> None:
        self.failures, self.trips, self.probing = 0, 0, False

    def failure(self) -> None:
        self.failures += 1
        self.probing = False
        if self.failures >= self.threshold:
            self.trips += 1
            cooldown = min(self.max_cooldown_s, self.base_cooldown_s * 2 ** (self.trips - 1))
            self.open_until = self.clock() + cooldown
