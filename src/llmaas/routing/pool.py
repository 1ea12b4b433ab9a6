"""Upstream pools per model: active health checks, passive ejection through circuit breakers,
weighted least-outstanding choice, and a bound on requests in flight (backpressure)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field

import aiohttp

from llmaas.catalog import Catalog, Upstream
from llmaas.errors import EngineUnavailable
from llmaas.routing.breaker import CircuitBreaker

log = logging.getLogger(__name__)


@dataclass(eq=False)
class UpstreamTarget:
    """One OpenAI-compatible server for one model."""

    base_url: str  # up to and including /v1
    model: str  # the model name this upstream knows
    api_key: str | None = None
    weight: float = 1.0  # its share of the model's traffic, relative to the pool's other upstreams
    healthy: bool = False
    outstanding: int = 0
    credit: float = 0.0  # smooth weighted round robin: its turn comes when its credit is highest
    missed_probes: int = 0  # health probes in a row that timed out
    breaker: CircuitBreaker = field(default_factory=CircuitBreaker)
    headers: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        self.base_url = self.base_url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}


class UpstreamPool:
    def __init__(
        self, model_id: str, targets: list[UpstreamTarget], *, max_in_flight: int | None = None
    ) -> None:
        self.model_id = model_id
        self.targets = targets
        self.max_in_flight = max_in_flight

    @property
    def ready(self) -> bool:
        return any(target.healthy and target.breaker.state != "open" for target in self.targets)

    @property
    def in_flight(self) -> int:
        return sum(target.outstanding for target in self.targets)

    def candidates(self) -> Iterator[UpstreamTarget]:
        """Usable targets, each at most once per request: the first by weight and load, then the
        others for failover.

        Refuses at once when the model already has `max_in_flight` requests: a bounded queue, not an
        unbounded pile of waiting requests.
        """
        if self.max_in_flight is not None and self.in_flight >= self.max_in_flight:
            raise EngineUnavailable(
                f"The engines for `{self.model_id}` are saturated; retry shortly.", retry_after_s=1
            )
        tried: set[int] = set()
        while True:
            usable = [t for t in self.targets
                      if t.healthy and t.breaker.available() and id(t) not in tried]
            if not usable:
                if not tried:
                    raise EngineUnavailable(
                        f"The engine for `{self.model_id}` is not available right now; retry shortly.",
                        retry_after_s=2,
                    )
                return
            target = _next_turn(usable)
            tried.add(id(target))
            target.breaker.begin()
            yield target


def _next_turn(usable: list[UpstreamTarget]) -> UpstreamTarget:
    """Smooth weighted round robin (as nginx's) over weights divided by requests in flight + 1.

    Idle upstreams share requests in proportion to their weights, one after the other rather than in
    runs; an upstream with requests in flight gets fewer new ones (least outstanding requests, per unit
    of weight), so a slow or overloaded engine is relieved without being ejected.
    """
    if len(usable) == 1:
        return usable[0]
    total = 0.0
    for target in usable:
        share = target.weight / (target.outstanding + 1)
        target.credit += share
        total += share
    chosen = max(usable, key=lambda t: t.credit)
    chosen.credit -= total
    return chosen


class Router:
    def __init__(self, pools: dict[str, UpstreamPool]) -> None:
        self.pools = pools

    @classmethod
    def from_catalog(
        cls, catalog: Catalog, embedded: dict[str, list[Upstream]], *, max_in_flight: int | None = None
    ) -> Router:
        """A pool per model: the catalog's upstreams plus those of its embedded engines."""
        pools = {}
        for entry in catalog:
            targets = [
                UpstreamTarget(base_url=u.url, model=u.model or entry.id, api_key=u.api_key, weight=u.weight)
                for u in [*entry.upstreams, *embedded.get(entry.id, [])]
            ]
            pools[entry.id] = UpstreamPool(entry.id, targets, max_in_flight=max_in_flight)
        return cls(pools)

    def pool(self, model_id: str) -> UpstreamPool:
        return self.pools[model_id]

    def replace(self, pools: dict[str, UpstreamPool]) -> None:
        """Swap in new pools (a catalog reload). An upstream present before keeps its health, breaker
        and in-flight count; requests already routed keep the pool they had, so none fails."""
        known = {(t.base_url, t.model): t for pool in self.pools.values() for t in pool.targets}
        for pool in pools.values():
            kept = []
            for target in pool.targets:
                old = known.get((target.base_url, target.model))
                if old is not None:  # a new key or weight applies at once
                    old.api_key, old.headers, old.weight = target.api_key, target.headers, target.weight
                kept.append(old or target)
            pool.targets = kept
        self.pools = pools

    def readiness(self) -> dict[str, bool]:
        return {model_id: pool.ready for model_id, pool in self.pools.items()}

    async def check_health(self, session: aiohttp.ClientSession, *, timeout_s: float = 2.0) -> None:
        targets = [target for pool in self.pools.values() for target in pool.targets]
        await asyncio.gather(*(self._probe(session, target, timeout_s) for target in targets))

    async def watch_health(self, session: aiohttp.ClientSession, *, interval_s: float) -> None:
        while True:
            await self.check_health(session)
            await asyncio.sleep(interval_s)

    @staticmethod
    async def _probe(session: aiohttp.ClientSession, target: UpstreamTarget, timeout_s: float) -> None:
        # `GET /v1/models` is the one health signal every OpenAI-compatible server shares
        # (vLLM, llama.cpp, Ollama, TGI and our workers all answer it, and fail it while loading).
        try:
            async with session.get(
                f"{target.base_url}/models",
                headers=target.headers,
                timeout=aiohttp.ClientTimeout(total=timeout_s),
            ) as response:
                healthy = response.status == 200
                target.missed_probes = 0
        except aiohttp.ClientConnectorError:
            healthy = False  # refused: nothing listens there, a certain answer
        except (aiohttp.ClientError, TimeoutError):
            # A slow answer on a busy machine is no proof of death: eject after two in a row.
            target.missed_probes += 1
            healthy = target.healthy and target.missed_probes < 2
        if healthy != target.healthy:
            log.info("upstream %s for %s is %s", target.base_url, target.model,
                     "healthy" if healthy else "unhealthy")
        target.healthy = healthy
