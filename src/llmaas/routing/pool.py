"""Upstream pools per model: active health checks, passive ejection through circuit breakers,
weighted least-outstanding choice, and backpressure: a bound on requests in flight, with a bounded,
time-limited queue in front of it."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from llmaas.catalog import Catalog, Upstream
from llmaas.catalog.models import CacheIsolation
from llmaas.errors import EngineUnavailable
from llmaas.routing.breaker import CircuitBreaker
from llmaas.routing.tls import UpstreamContexts, UpstreamTLS
from llmaas.settings import Settings

log = logging.getLogger(__name__)


@dataclass(eq=False)
class UpstreamTarget:
    """One OpenAI-compatible server for one model."""

    base_url: str  # up to and including /v1
    model: str  # the model name this upstream knows
    api_key: str | None = None
    weight: float = 1.0  # its share of the model's traffic, relative to the pool's other upstreams
    tls: UpstreamTLS = True  # aiohttp's `ssl=`: how an https:// upstream is verified
    tls_error: str | None = None  # its last failed TLS handshake, logged once
    cache_isolation: CacheIsolation = "off"  # how tenants' prompts are kept apart in its cache (catalog)
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
        self, model_id: str, targets: list[UpstreamTarget], *, max_in_flight: int | None = None,
        max_queued: int = 0, queue_timeout_s: float = 10.0,
    ) -> None:
        self.model_id = model_id
        self.targets = targets
        self.max_in_flight = max_in_flight
        self.max_queued = max_queued
        self.queue_timeout_s = queue_timeout_s
        self.in_flight = 0
        self._queue: deque[asyncio.Future[None]] = deque()

    @property
    def ready(self) -> bool:
        return any(target.healthy and target.breaker.state != "open" for target in self.targets)

    @property
    def queued(self) -> int:
        return len(self._queue)

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one of the model's `max_in_flight` places for the whole exchange with an engine (a
        stream included). When all are taken, wait in a queue of at most `max_queued`, first come
        first served, for at most `queue_timeout_s`; past either bound, a retryable 503 at once: a
        bounded queue, never an unbounded pile of waiting requests."""
        await self._acquire()
        try:
            yield
        finally:
            self._release()

    async def _acquire(self) -> None:
        if self.max_in_flight is None or (self.in_flight < self.max_in_flight and not self._queue):
            self.in_flight += 1
            return
        if len(self._queue) >= self.max_queued:
            raise EngineUnavailable(
                f"The engines for `{self.model_id}` are saturated; retry shortly.", retry_after_s=1
            )
        turn = asyncio.get_running_loop().create_future()
        self._queue.append(turn)
        try:
            await asyncio.wait_for(asyncio.shield(turn), self.queue_timeout_s)
        except TimeoutError:
            self._leave(turn)
            raise EngineUnavailable(
                f"The engines for `{self.model_id}` stayed saturated for {self.queue_timeout_s:g} s; "
                "retry shortly.", retry_after_s=1
            ) from None
        except BaseException:  # the client left while queued
            self._leave(turn)
            raise

    def _leave(self, turn: asyncio.Future[None]) -> None:
        if turn.done():
            self._release()  # the place came just as the wait ended: pass it on
        else:
            turn.cancel()
            self._queue.remove(turn)

    def _release(self) -> None:
        """Hand the place to the first in the queue, or free it."""
        while self._queue:
            turn = self._queue.popleft()
            if not turn.done():
                turn.set_result(None)
                return
        self.in_flight -= 1

    def candidates(self) -> Iterator[UpstreamTarget]:
        """Usable targets, each at most once per request: the first by weight and load, then the
        others for failover."""
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
        cls, catalog: Catalog, embedded: dict[str, list[Upstream]], *, max_in_flight: int | None = None,
        max_queued: int = 0, queue_timeout_s: float = 10.0, upstream_ca_file: Path | None = None,
    ) -> Router:
        """A pool per model: the catalog's upstreams plus those of its embedded engines. CatalogError
        when an upstream's TLS files cannot be used."""
        pools = {}
        contexts = UpstreamContexts(default_ca_file=upstream_ca_file)
        for entry in catalog:
            targets = [
                UpstreamTarget(base_url=u.url, model=u.model or entry.id, api_key=u.api_key, weight=u.weight,
                               tls=contexts.for_upstream(entry.id, u), cache_isolation=u.cache_isolation)
                for u in [*entry.upstreams, *embedded.get(entry.id, [])]
            ]
            pools[entry.id] = UpstreamPool(entry.id, targets, max_in_flight=max_in_flight,
                                           max_queued=max_queued, queue_timeout_s=queue_timeout_s)
        return cls(pools)

    @classmethod
    def configured(cls, catalog: Catalog, embedded: dict[str, list[Upstream]], settings: Settings) -> Router:
        """`from_catalog` with the backpressure the settings give."""
        return cls.from_catalog(catalog, embedded, max_in_flight=settings.max_in_flight_per_model,
                                max_queued=settings.max_queued_per_model,
                                queue_timeout_s=settings.queue_timeout_s,
                                upstream_ca_file=settings.upstream_ca_file)

    def pool(self, model_id: str) -> UpstreamPool:
        return self.pools[model_id]

    def replace(self, pools: dict[str, UpstreamPool]) -> None:
        """Swap in new pools (a catalog reload). An upstream present before keeps its health, breaker
        and in-flight count, a model its place count and queue; requests already routed keep the
        upstreams they had, so none fails."""
        # Per model: two models served by one engine keep a target each, as from_catalog made them.
        known = {(model_id, t.base_url, t.model): t
                 for model_id, pool in self.pools.items() for t in pool.targets}
        for model_id, pool in pools.items():
            kept = []
            for target in pool.targets:
                old = known.get((model_id, target.base_url, target.model))
                if old is not None:  # a new key, weight, TLS file or isolation applies at once
                    old.api_key, old.headers, old.weight = target.api_key, target.headers, target.weight
                    old.tls, old.cache_isolation = target.tls, target.cache_isolation
                kept.append(old or target)
            if (staying := self.pools.get(model_id)) is not None:
                staying.targets = kept  # its requests in flight and its queue go on counting
                pools[model_id] = staying
            else:
                pool.targets = kept
        self.pools = pools

    def readiness(self) -> dict[str, bool]:
        return {model_id: pool.ready for model_id, pool in self.pools.items()}

    async def check_health(self, session: aiohttp.ClientSession, *, timeout_s: float = 2.0) -> None:
        targets = [target for pool in self.pools.values() for target in pool.targets]
        await asyncio.gather(*(self._probe(session, target, timeout_s) for target in targets))

    async def watch_health(
        self, session: aiohttp.ClientSession, *, interval_s: float,
        on_checked: Callable[[dict[str, bool]], None] | None = None,
    ) -> None:
        """Probe every upstream each `interval_s`; `on_checked` then gets each model's readiness (the
        status page counts them per minute)."""
        while True:
            await self.check_health(session)
            if on_checked is not None:
                on_checked(self.readiness())
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
                ssl=target.tls,
            ) as response:
                healthy = response.status == 200
                target.missed_probes, target.tls_error = 0, None
        except aiohttp.ClientSSLError as error:
            healthy = False  # a certificate that does not verify stays so until the operator acts
            if str(error) != target.tls_error:
                log.error("upstream %s for %s: TLS handshake failed: %s", target.base_url, target.model,
                          error)
            target.tls_error = str(error)
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
