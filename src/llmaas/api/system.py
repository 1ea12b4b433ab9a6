"""Operational endpoints: liveness, per-model readiness, Prometheus metrics, the API reference."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.openapi.docs import get_swagger_ui_html
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import HTMLResponse, Response

from llmaas.api.openai.responses import ORJSONResponse

router = APIRouter(include_in_schema=False)


@router.get("/health")
async def health() -> Response:
    return ORJSONResponse({"status": "ok"})


@router.get("/ready")
async def ready(
    request: Request, every: Annotated[bool, Query(alias="all")] = False
) -> Response:
    """Readiness for a load balancer: 503 while draining or while no model can be served, so one
    model's engines being down does not take the whole replica out. `?all=true` waits for every
    model (start-up scripts, tests). The body gives each model's state."""
    if getattr(request.app.state, "draining", False):
        return ORJSONResponse({"status": "draining", "models": {}}, status_code=503)
    readiness = request.app.state.gateway.router.readiness()
    for model_id, is_ready in readiness.items():
        request.app.state.metrics.upstream_ready.labels(model_id).set(1 if is_ready else 0)
    serving = all(readiness.values()) if every else any(readiness.values()) or not readiness
    body = {
        "status": "ready" if serving else "starting",
        "models": {model_id: "ready" if ok else "unavailable" for model_id, ok in readiness.items()},
    }
    return ORJSONResponse(body, status_code=200 if serving else 503)


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    registry = request.app.state.metrics.registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


@router.get("/docs")
async def docs() -> HTMLResponse:
    # Swagger UI from the package, not a CDN: the console must work on an air-gapped network.
    return get_swagger_ui_html(
        openapi_url="/openapi.json",
        title="llmaas API",
        swagger_js_url="/static/swagger-ui/swagger-ui-bundle.js",
        swagger_css_url="/static/swagger-ui/swagger-ui.css",
        swagger_favicon_url="/static/swagger-ui/favicon-32x32.png",
    )
