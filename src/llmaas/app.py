"""`create_app` assembles the platform; pools and clients are built in the lifespan."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from redis.asyncio import Redis
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool
from starlette.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

from llmaas import __version__
from llmaas.api import status, system
from llmaas.api.admin import audit as admin_audit
from llmaas.api.admin import catalog as admin_catalog
from llmaas.api.admin import tenancy as admin_tenancy
from llmaas.api.admin import usage as admin_usage
from llmaas.api.errors import install_error_handlers
from llmaas.api.middleware import RequestContext
from llmaas.api.openai import audio, models, usage
from llmaas.api.openai.endpoints import OpenAIEndpoints, documented
from llmaas.audit import AuditLog
from llmaas.auth import FailedAuthentications, KeyService, SharedFailedAuthentications
from llmaas.catalog import Capability, Catalog, Upstream
from llmaas.console import create_console
from llmaas.gateway import Gateway, ServedCatalog
from llmaas.gateway.accounting import Accounting
from llmaas.gateway.images import ImagePolicy
from llmaas.gateway.isolation import CacheSalts
from llmaas.gateway.relay import UpstreamClient
from llmaas.metering import MemoryMeter, Meter, RedisMeter
from llmaas.metering.ledger import Ledger, roll_up
from llmaas.observability.metrics import Metrics
from llmaas.observability.stalls import watch_event_loop
from llmaas.settings import Settings
from llmaas.status import MinuteRecorder, StatusBoard

log = logging.getLogger(__name__)


def meter_for(settings: Settings) -> Meter:
    """Redis when configured (limits and budgets shared by every replica), else in-process."""
    if settings.redis_url:
        return RedisMeter.from_url(
            settings.redis_url, reservation_ttl_s=settings.upstream_timeout_s * 2, require_seeded=True
        )
    return MemoryMeter(reservation_ttl_s=settings.upstream_timeout_s * 2)


def failed_authentications(settings: Settings) -> FailedAuthentications:
    """Failed authentications counted with every replica's in Redis when configured, else here."""
    burst, per_minute = settings.auth_failure_burst, settings.auth_failures_per_minute
    if settings.redis_url:
        return SharedFailedAuthentications(Redis.from_url(settings.redis_url), burst=burst,
                                           per_minute=per_minute)
    return FailedAuthentications(burst=burst, per_minute=per_minute)


async def _roll_up_hourly(database: Engine, retention_days: int) -> None:
    while True:
        try:
            await run_in_threadpool(roll_up, database, retention_days=retention_days)
        except Exception:  # the next hour retries; raw rows are kept until then
            log.exception("usage roll-up failed")
        await asyncio.sleep(3600)


def create_app(
    settings: Settings,
    *,
    catalog: Catalog,
    database: Engine,
    upstreams: dict[str, list[Upstream]] | None = None,
    meter: Meter | None = None,
) -> FastAPI:
    """`meter`, when given, replaces the one `settings` would choose (`meter_for`); the app closes it.
    A weak admin token is refused (ValueError): `llmaas serve` says why before starting anything."""
    if problem := settings.admin_token_problem:
        raise ValueError(problem)
    metrics = Metrics()
    # Built here, not in the lifespan: `llmaas serve` shows its pools' readiness while starting up.
    served = ServedCatalog(catalog, settings=settings, database=database, embedded=upstreams)
    router = served.router
    given_meter = meter

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        client = UpstreamClient(timeout_s=settings.upstream_timeout_s)
        meter = given_meter if given_meter is not None else meter_for(settings)
        if isinstance(meter, RedisMeter):
            await meter.prepare()
        ledger = Ledger(database, flush_interval_s=settings.ledger_flush_interval_s)
        accounting = Accounting(meter=meter, ledger=ledger, database=database)
        minutes = MinuteRecorder(database, retention_days=settings.status_retention_days)
        app.state.gateway = Gateway(served=served, client=client, metrics=metrics, accounting=accounting,
                                    salts=CacheSalts(settings.cache_salt_secret),
                                    guardrail_model=_guardrail_model(settings, served.catalog),
                                    minutes=minutes, images=ImagePolicy.of(settings),
                                    max_audio_seconds=settings.max_audio_seconds)
        await router.check_health(client.session)
        await app.state.auth_failures.start()
        ledger.start()
        minutes.start()
        tasks = [
            asyncio.create_task(router.watch_health(client.session, interval_s=settings.health_interval_s,
                                                    on_checked=minutes.probed)),
            asyncio.create_task(_roll_up_hourly(database, settings.usage_retention_days)),
            asyncio.create_task(served.watch_overrides(interval_s=settings.catalog_poll_interval_s)),
            asyncio.create_task(watch_event_loop(metrics)),
        ]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await ledger.close()  # every settled request is written before shutdown completes
            await minutes.close()
            await meter.close()
            await client.close()
            await app.state.auth_failures.close()

    app = FastAPI(
        title="llmaas",
        version=__version__,
        summary="OpenAI-compatible API of a sovereign LLM platform.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        # No OpenTelemetry export from the platform: nothing leaves the operator's machines unasked,
        # and the per-request check for a configured provider showed in profiles.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.served_catalog = served
    app.state.database = database
    app.state.audit = AuditLog(database)
    app.state.keys = KeyService(database, cache_ttl_s=settings.key_cache_ttl_s)
    app.state.status_board = StatusBoard(database)
    app.state.auth_failures = failed_authentications(settings)
    install_error_handlers(app)
    # Chat, completions, embeddings and rerank are answered by OpenAIEndpoints, before FastAPI.
    for module in (audio, models, usage, system, status, admin_tenancy, admin_usage, admin_catalog,
                   admin_audit):
        app.include_router(module.router)
    app.mount("/static/swagger-ui", StaticFiles(directory=swagger_ui_path), name="swagger-ui")
    app.mount("/console", create_console(settings, database=database, keys=app.state.keys,
                                         audit=app.state.audit, served=served), name="console")
    app.openapi = documented(app)  # type: ignore[method-assign]
    app.add_middleware(OpenAIEndpoints)
    # Added last, so outermost: it sees every request, the fast endpoints included.
    app.add_middleware(RequestContext, metrics=metrics, max_body_bytes=settings.max_request_bytes)
    return app


def _guardrail_model(settings: Settings, catalog: Catalog) -> str:
    """The model prompts are screened with; without it in the catalog, nothing is screened: say so."""
    if not any(entry.id == settings.guardrail_model and entry.supports(Capability.MODERATION)
               for entry in catalog):
        log.warning(
            "guardrail model %r is not a moderation model of the catalog: prompts are not screened",
            settings.guardrail_model)
    return settings.guardrail_model
