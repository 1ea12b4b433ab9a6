"""A gateway in front of a fake engine, served on loopback, with the official SDK as the client."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai
import pytest
from sqlalchemy import Engine

from llmaas.app import create_app
from llmaas.auth import KeyService
from llmaas.catalog import Catalog, ModelEntry, Upstream
from llmaas.routing import Router
from llmaas.routing.breaker import CircuitBreaker
from llmaas.settings import Settings
from tests.clients import sdk
from tests.databases import KINDS, fresh_database
from tests.fakes import FakeEngine
from tests.servers import free_port, serve


@dataclass
class Platform:
    url: str
    key: str
    engine: FakeEngine
    client: openai.OpenAI
    database: Engine
    router: Router

    def new_key(self, *, tenant: str = "default", **options: Any) -> openai.OpenAI:
        secret = KeyService(self.database).create(name="t", tenant=tenant, **options).secret
        return sdk(f"{self.url}/v1", secret)


def catalog_for(engine_url: str) -> Catalog:
    def entry(model_id: str, capabilities: list[str], url: str = engine_url, **extra: object) -> ModelEntry:
        return ModelEntry.model_validate({
            "id": model_id, "family": "test", "owned_by": "tests", "capabilities": capabilities,
            "context_length": 4096, "max_output_tokens": 512, "license": "MIT",
            "upstreams": [Upstream(url=f"{url}/v1", model="upstream-name")], **extra,
        })

    return Catalog([
        entry("chat-model", ["chat", "completions", "tools", "json"],
              pricing={"input_per_million_tokens": 1000, "output_per_million_tokens": 2000}),
        entry("vision-model", ["chat", "vision"]),
        entry("base-model", ["completions"]),
        entry("embed-model", ["embeddings", "rerank"], dimensions=2,
              pricing={"input_per_million_tokens": 1000, "per_thousand_documents": 2}),
        entry("speech-model", ["transcription"], pricing={"per_audio_minute": 1}),
        entry("speech-multi", ["transcription", "translation"], pricing={"per_audio_minute": 1}),
        entry("down-model", ["chat"], url=f"http://127.0.0.1:{free_port()}"),
        entry("old-model", ["chat"], deprecated_at="2026-09-01", retires_at="2036-06-01",
              successor="chat-model"),
        entry("gone-model", ["chat"], deprecated_at="2026-01-01", retires_at="2026-04-01",
              successor="chat-model"),
        entry("moved-model", ["chat"], deprecated_at="2026-01-01", retires_at="2026-04-01",
              successor="chat-model", on_retired="redirect"),
    ], aliases={"chat-default": "chat-model"})


@pytest.fixture(scope="package", params=KINDS)
def platform(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    home: Path = tmp_path_factory.mktemp("home")
    engine = FakeEngine(model="upstream-name")
    settings = Settings(home=home, max_request_bytes=64 * 1024, max_audio_bytes=32 * 1024,
                        max_audio_seconds=600, health_interval_s=0.2, ledger_flush_interval_s=0.05)
    admin_url = request.getfixturevalue("postgres_admin_url") if request.param == "postgresql" else None
    database = fresh_database(request.param, sqlite_dir=home, postgres_admin_url=admin_url)
    secret = KeyService(database).create(name="tests").secret
    with serve(engine.app()) as engine_url:
        app = create_app(settings, catalog=catalog_for(engine_url), database=database)
        with serve(app) as url, openai.OpenAI(base_url=f"{url}/v1", api_key=secret, max_retries=0) as client:
            yield Platform(url, secret, engine, client, database, app.state.served_catalog.router)
    database.dispose()


@pytest.fixture
def engine(platform: Platform) -> Iterator[FakeEngine]:
    platform.engine.mode = "ok"
    platform.engine.pieces = None
    platform.engine.requests.clear()
    platform.engine.forms.clear()
    for pool in platform.router.pools.values():
        for target in pool.targets:  # a test's failures must not trip the next test's breaker
            target.breaker = CircuitBreaker()
    yield platform.engine
    platform.engine.mode = "ok"
    platform.engine.pieces = None
