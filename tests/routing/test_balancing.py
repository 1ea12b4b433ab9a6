"""How a pool spreads requests: by weight when idle, away from upstreams with requests in flight,
and through the gateway to real (fake-engine) upstreams."""

from __future__ import annotations

from collections import Counter
from itertools import islice
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from llmaas.app import create_app
from llmaas.auth import KeyService
from llmaas.catalog import Catalog, ModelEntry, Upstream
from llmaas.routing import Router
from llmaas.routing.pool import UpstreamPool, UpstreamTarget
from llmaas.settings import Settings
from llmaas.storage.database import create_database_engine, migrate
from tests.fakes import FakeEngine
from tests.servers import serve, wait_for


def pool(**weights: float) -> UpstreamPool:
    return UpstreamPool("m", [UpstreamTarget(base_url=f"http://{name}/v1", model="m", weight=weight,
                                             healthy=True) for name, weight in weights.items()])


def first_choices(upstreams: UpstreamPool, requests: int) -> list[str]:
    """The upstream each of `requests` sequential requests goes to (each finished before the next)."""
    return [next(upstreams.candidates()).base_url.split("/")[2] for _ in range(requests)]


def test_idle_upstreams_share_requests_by_weight_one_after_the_other() -> None:
    assert first_choices(pool(a=1, b=1), 6) == ["a", "b", "a", "b", "a", "b"]
    choices = first_choices(pool(a=3, b=1), 400)
    assert Counter(choices) == {"a": 300, "b": 100}
    assert "b" in choices[:4] and "a,a,a,a" not in ",".join(choices), "interleaved, not in runs"
    assert Counter(first_choices(pool(a=0.5, b=1.5, c=2), 400)) == {"a": 50, "b": 150, "c": 200}


def test_an_upstream_with_requests_in_flight_gets_fewer_new_ones() -> None:
    upstreams = pool(a=1, b=1)
    busy = upstreams.targets[0]
    busy.outstanding = 3  # a slow engine still holding three requests
    assert Counter(first_choices(upstreams, 500)) == {"a": 100, "b": 400}  # 1/(3+1) against 1/(0+1)
    busy.outstanding = 0
    assert Counter(first_choices(upstreams, 100)) == {"a": 50, "b": 50}


def test_failover_still_offers_every_usable_upstream_once() -> None:
    upstreams = pool(a=5, b=1, c=1)
    upstreams.targets[2].healthy = False
    assert sorted(t.base_url for t in islice(upstreams.candidates(), 5)) == ["http://a/v1", "http://b/v1"]


def test_weights_are_validated_and_follow_a_reload() -> None:
    with pytest.raises(ValidationError, match="weight"):
        Upstream(url="http://a/v1", weight=0)

    def catalog(weight: float) -> Catalog:
        return Catalog([ModelEntry(id="m", family="f", owned_by="o", capabilities=["chat"], context_length=8,
                                   license="MIT", upstreams=[Upstream(url="http://a/v1", weight=weight),
                                                             Upstream(url="http://b/v1")])])

    router = Router.from_catalog(catalog(1), {})
    kept = router.pools["m"].targets[0]
    router.replace(Router.from_catalog(catalog(4), {}).pools)
    assert router.pools["m"].targets[0] is kept and kept.weight == 4


def test_the_gateway_spreads_chat_requests_over_weighted_upstreams(tmp_path: Path) -> None:
    heavy, light = FakeEngine(model="fake"), FakeEngine(model="fake")
    database = create_database_engine(f"sqlite:///{tmp_path / 'llmaas.db'}")
    migrate(database)
    secret = KeyService(database).create(name="k").secret
    with serve(heavy.app()) as heavy_url, serve(light.app()) as light_url:
        catalog = Catalog([ModelEntry(
            id="chat", family="f", owned_by="o", capabilities=["chat"], context_length=4096, license="MIT",
            upstreams=[Upstream(url=f"{heavy_url}/v1", model="fake", weight=3),
                       Upstream(url=f"{light_url}/v1", model="fake", weight=1)])])
        app = create_app(Settings(home=tmp_path, health_interval_s=0.2), catalog=catalog, database=database)
        with serve(app) as url:
            wait_for(lambda: httpx.get(f"{url}/ready").status_code == 200, what="both upstreams healthy")
            wait_for(lambda: all(t.healthy for t in app.state.served_catalog.router.pools["chat"].targets),
                     what="both upstreams healthy")
            for _ in range(40):
                response = httpx.post(f"{url}/v1/chat/completions",
                                      headers={"Authorization": f"Bearer {secret}"},
                                      json={"model": "chat", "messages": [{"role": "user", "content": "Hi"}]})
                assert response.status_code == 200, response.text
    assert (len(heavy.requests), len(light.requests)) == (30, 10)
