"""Operational endpoints: liveness, per-model readiness, Prometheus metrics, the API reference."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import HTMLResponse, Response

from llmaas.api.openai.responses import ORJSONResponse

router = APIRouter(include_in_schema=False)


@router.get("/health")
async def health() -> Response:
    return ORJSONResponse({"status": "ok"})


@router.get("/ready")
async def ready(request: Request) -> Response:
    """503 until every model has a healthy engine, and while draining; the body says which are ready."""
    if getattr(request.app.state, "draining", False):
        return ORJSONResponse({"status": "draining", "models": {}}, status_code=503)
    readiness = request.app.state.gateway.router.readiness()
    for model_id, is_ready in readiness.items():
        request.app.state.metrics.upstream_ready.labels(model_id).set(1 if is_ready else 0)
    all_ready = all(readiness.values())
    body = {
        "status": "ready" if all_ready else "starting",
        "models": {model_id: "ready" if ok else "unavailable" for model_id, ok in readiness.items()},
    }
    return ORJSONResponse(body, status_code=200 if all_ready else 503)


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
