"""`create_app` assembles the platform; pools and clients are built in the lifespan."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy import Engine
from starlette.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

from llmaas import __version__
from llmaas.api import system
from llmaas.api.admin import tenancy as admin_tenancy
from llmaas.api.admin import usage as admin_usage
from llmaas.api.errors import install_error_handlers
from llmaas.api.middleware import RequestContext
from llmaas.api.openai import audio, chat, completions, embeddings, models, usage
from llmaas.auth import KeyService
from llmaas.catalog import Catalog, Upstream
from llmaas.gateway import Gateway
from llmaas.gateway.relay import UpstreamClient
from llmaas.observability.metrics import Metrics
from llmaas.routing import Router, UpstreamPool, UpstreamTarget
from llmaas.settings import Settings


def build_router(catalog: Catalog, upstreams: dict[str, list[Upstream]]) -> Router:
    """Pools from the catalog's upstreams plus those given for embedded engines."""
    pools = {}
    for entry in catalog:
        targets = [
            UpstreamTarget(base_url=u.url, model=u.model or entry.id, api_key=u.api_key)
            for u in [*entry.upstreams, *upstreams.get(entry.id, [])]
        ]
        pools[entry.id] = UpstreamPool(entry.id, targets)
    return Router(pools)


def create_app(
    settings: Settings,
    *,
    catalog: Catalog,
    database: Engine,
    upstreams: dict[str, list[Upstream]] | None = None,
) -> FastAPI:
    metrics = Metrics()
    router = build_router(catalog, upstreams or {})

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        client = UpstreamClient(timeout_s=settings.upstream_timeout_s)
        app.state.gateway = Gateway(catalog=catalog, router=router, client=client, metrics=metrics)
        await router.check_health(client.session)
        watcher = asyncio.create_task(
            router.watch_health(client.session, interval_s=settings.health_interval_s)
        )
        try:
            yield
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            await client.close()

    app = FastAPI(
        title="llmaas",
        version=__version__,
        summary="OpenAI-compatible API of a sovereign LLM platform.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.router = router
    app.state.database = database
    app.state.keys = KeyService(database, cache_ttl_s=settings.key_cache_ttl_s)
    install_error_handlers(app)
    for module in (models, chat, completions, embeddings, audio, usage, system, admin_tenancy, admin_usage):
        app.include_router(module.router)
    app.mount("/static/swagger-ui", StaticFiles(directory=swagger_ui_path), name="swagger-ui")
    app.add_middleware(RequestContext, metrics=metrics, max_body_bytes=settings.max_request_bytes)
    return app
