"""The public status page: GET /status (HTML), /status.json and its stylesheet. No login, no input:
query strings and bodies are never read, and the answer is the same cached report for everyone."""

from __future__ import annotations

from functools import cache
from importlib import resources

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse, Response

from llmaas.api.openai.responses import ORJSONResponse
from llmaas.status import StatusBoard, StatusReport
from llmaas.status.page import render

router = APIRouter(tags=["status"])

# Nothing runs and nothing loads from elsewhere; the page may not be framed (clickjacking).
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; base-uri 'none'; form-action 'none'; "
                               "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "public, max-age=15",
}


@cache
def _stylesheet() -> bytes:
    return (resources.files("llmaas.status") / "status.css").read_bytes()


async def _report(request: Request) -> StatusReport:
    board: StatusBoard = request.app.state.status_board
    served = request.app.state.served_catalog
    return await board.report(served.catalog, served.router.readiness())


@router.get("/status.json", summary="Service status", response_model=StatusReport,
            description="Each catalog model's state now, its availability over 24 hours, 7 days and "
            "30 days against the 99 % target, its speed over the last hour, the incidents of the last "
            "30 days and the scheduled deprecations. Public: no API key. Refreshed at most every 15 s.")
async def status_json(request: Request) -> Response:
    report = await _report(request)
    return ORJSONResponse(report.model_dump(mode="json"), headers=HEADERS)


@router.get("/status", include_in_schema=False)
async def status_page(request: Request) -> Response:
    return HTMLResponse(render(await _report(request)), headers=HEADERS)


@router.get("/status.css", include_in_schema=False)
async def stylesheet() -> Response:
    return Response(_stylesheet(), media_type="text/css", headers=HEADERS)
