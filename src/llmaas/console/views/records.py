"""Read-only pages: the catalog with its lifecycle banners, and the audit log (all of it for the
operator's staff; a tenant's administrators see the rows on their tenant and its keys)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from llmaas.audit import AuditEntry
from llmaas.catalog.lifecycle import status
from llmaas.console.guard import ConsoleDep, PrincipalDep, render
from llmaas.observability.text import PRINTABLE_TEXT  # a query parameter is refused, not cleaned

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
    action: Annotated[str | None, Query(max_length=64, pattern=PRINTABLE_TEXT)] = None,
    actor: Annotated[str | None, Query(max_length=200, pattern=PRINTABLE_TEXT)] = None,
    since: Annotated[date | None, Query()] = None,
) -> Response:
    if not principal.operator:
        principal.require_admin()  # a tenant's viewers read usage and keys, not the log
    start = datetime.combine(since, time(), UTC) if since else None

    def read() -> list[AuditEntry]:
        targets = None
        if not principal.operator:  # a tenant's admins: the rows on their tenant and on its keys only
            prefixes = [k.prefix for k in console.keys.list(tenant=principal.tenant)]
            targets = {"tenant": [principal.tenant or ""], "key": prefixes}
        return console.audit.entries(since=start, action=action or None, actor=actor or None,
                                     targets=targets, limit=500)

    entries = await run_in_threadpool(read)
    return render(request, "audit.html", entries=entries, action=action or "", actor=actor or "",
                  since=since)
