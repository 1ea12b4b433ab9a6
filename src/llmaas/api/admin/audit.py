"""GET /admin/api/audit: the audit log, newest first, as JSON or CSV (`?format=csv` or
`Accept: text/csv`), filtered by time, action and actor."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from llmaas.api.admin.deps import AdminDep
from llmaas.api.admin.schemas import AuditEntryPublic
from llmaas.audit import AuditEntry, AuditLog

router = APIRouter(prefix="/admin/api", tags=["admin"])

COLUMNS = ["seq", "created_at", "actor", "action", "target_type", "target", "source", "outcome",
           "error_code", "details", "hash"]

SinceQuery = Annotated[datetime | None, Query(
    description="Only rows from this moment on: a day (`2026-12-01`) or a time; UTC unless it says.")]
ActionQuery = Annotated[str | None, Query(
    description="One action (`key.create`) or a family of them (`key`, `catalog.override`).")]
ActorQuery = Annotated[str | None, Query(description="One actor exactly, e.g. `admin-token`, `cli:ops`.")]
LimitQuery = Annotated[int, Query(ge=1, le=100_000, description="At most this many rows, the newest.")]
FormatQuery = Annotated[Literal["json", "csv"] | None, Query(
    description="`csv` for a CSV file; else the Accept header decides, JSON by default.")]


@router.get("/audit", response_model=list[AuditEntryPublic],
            responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}})
async def audit_log(
    _: AdminDep, request: Request, since: SinceQuery = None, action: ActionQuery = None,
    actor: ActorQuery = None, limit: LimitQuery = 1000, format: FormatQuery = None,
) -> list[AuditEntryPublic] | Response:
    log: AuditLog = request.app.state.audit
    start = since.replace(tzinfo=UTC) if since is not None and since.tzinfo is None else since
    entries = await run_in_threadpool(
        lambda: log.entries(since=start, action=action, actor=actor, limit=limit))
    if format == "csv" or (format is None and "text/csv" in request.headers.get("accept", "")):
        return _csv(entries)
    return [AuditEntryPublic(**vars(entry)) for entry in entries]


def _csv(entries: list[AuditEntry]) -> Response:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    for entry in entries:
        row = vars(entry)
        writer.writerow([
            row[name].isoformat() if name == "created_at"
            else json.dumps(row[name], sort_keys=True) if name == "details"
            else "" if row[name] is None else row[name]
            for name in COLUMNS
        ])
    return Response(buffer.getvalue(), media_type="text/csv",
                    headers={"Content-Disposition": 'attachment; filename="audit.csv"'})
