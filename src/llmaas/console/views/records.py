"""Read-only pages: the catalog with its lifecycle banners, and the audit log (the operator's)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from llmaas.catalog.lifecycle import status
from llmaas.console.guard import ConsoleDep, PrincipalDep, render

router = APIRouter()


@router.get("/catalog")
async def catalog(request: Request, principal: PrincipalDep, console: ConsoleDep) -> Response:
    today = datetime.now(UTC).date()
    models = [(entry, status(entry, today)) for entry in console.served.catalog]
    # Deprecations and retirements ahead of time, with the successor to move to.
    notices = [(entry, state) for entry, state in models if entry.retires_at or state != "active"]
    return render(request, "catalog.html", models=models, notices=notices, today=today)


@router.get("/audit")
async def audit(
    request: Request, principal: PrincipalDep, console: ConsoleDep,
    action: Annotated[str | None, Query(max_length=64)] = None,
    actor: Annotated[str | None, Query(max_length=200)] = None,
    since: Annotated[date | None, Query()] = None,
) -> Response:
    principal.require_operator()  # the log spans every tenant
    start = datetime.combine(since, time(), UTC) if since else None
    entries = await run_in_threadpool(lambda: console.audit.entries(
        since=start, action=action or None, actor=actor or None, limit=500))
    return render(request, "audit.html", entries=entries, action=action or "", actor=actor or "",
                  since=since)
