"""The overview: the last hour's requests, tokens, audio, cost, energy, errors and latency, live."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from llmaas.console.guard import ConsoleDep, PrincipalDep, render
from llmaas.metering.activity import activity
from llmaas.tenancy import TenantService
from llmaas.tenancy.money import to_eur

router = APIRouter()
TenantQuery = Annotated[str | None, Query(max_length=200)]


@router.get("/")
async def overview(request: Request, principal: PrincipalDep, console: ConsoleDep,
                   tenant: TenantQuery = None) -> Response:
    scoped = principal.scope(tenant)
    tenants = await run_in_threadpool(TenantService(console.database).list) if principal.operator else []
    return render(request, "overview.html", tenant=scoped, tenants=tenants,
                  totals=await _series(console.database, scoped))


@router.get("/overview/totals")
async def totals(request: Request, principal: PrincipalDep, console: ConsoleDep,
                 tenant: TenantQuery = None) -> Response:
    """The figures above the charts, as a fragment htmx swaps in every few seconds."""
    return render(request, "_totals.html", totals=await _series(console.database, principal.scope(tenant)))


@router.get("/overview.json")
async def series(principal: PrincipalDep, console: ConsoleDep, tenant: TenantQuery = None) -> dict[str, Any]:
    return await _series(console.database, principal.scope(tenant))


async def _series(database: Any, tenant: str | None) -> dict[str, Any]:
    def read() -> dict[str, Any]:
        tenant_id = None if tenant is None else TenantService(database).id_of(tenant)
        buckets = activity(database, minutes=60, tenant_id=tenant_id)
        requests = sum(b.requests for b in buckets)
        latency = sum(b.latency_ms_total for b in buckets)
        return {
            "time": [b.start for b in buckets],
            "requests": [b.requests for b in buckets],
            "tokens": [b.input_tokens + b.output_tokens for b in buckets],
            "cost_eur": [float(to_eur(b.cost_nano) or 0) for b in buckets],
            "audio_minutes": [round(b.audio_seconds / 60, 2) for b in buckets],
            "energy_wh": [round(b.energy_wh, 3) for b in buckets],
            "errors": [b.errors for b in buckets],
            "latency_ms": [round(b.latency_ms, 1) for b in buckets],
            "total_requests": requests,
            "total_tokens": sum(b.input_tokens + b.output_tokens for b in buckets),
            "total_cost_eur": float(to_eur(sum(b.cost_nano for b in buckets)) or 0),
            "total_errors": sum(b.errors for b in buckets),
            "total_audio_minutes": round(sum(b.audio_seconds for b in buckets) / 60, 1),
            "total_energy_wh": round(sum(b.energy_wh for b in buckets), 3),
            "mean_latency_ms": round(latency / requests, 1) if requests else 0,
        }

    return await run_in_threadpool(read)
