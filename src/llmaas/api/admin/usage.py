"""GET /admin/api/usage (JSON) and /admin/api/usage.csv: the ledger, filtered and grouped."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from llmaas.api.admin.deps import AdminDep, DatabaseDep
from llmaas.api.admin.schemas import UsageGroup, UsageReport
from llmaas.auth import KeyService
from llmaas.metering.reports import GroupBy, UsageTotals, as_csv, report
from llmaas.tenancy import TenantService
from llmaas.tenancy.money import to_eur

router = APIRouter(prefix="/admin/api", tags=["admin"])

FromQuery = Annotated[date | None, Query(alias="from", description="First day included (UTC).")]
ToQuery = Annotated[date | None, Query(alias="to", description="Last day included (UTC).")]


def _totals(
    database: Engine, *, tenant: str | None, key: str | None, model: str | None,
    start: date | None, end: date | None, group_by: GroupBy,
) -> list[UsageTotals]:
    keys = KeyService(database)
    tenant_id = None if tenant is None else TenantService(database).id_of(tenant)
    key_id = None if key is None else keys.id_of(key)
    names = keys.prefixes()
    since = datetime.combine(start, time(), UTC) if start else None
    until = datetime.combine(end + timedelta(days=1), time(), UTC) if end else None  # `to` is included
    return report(database, group_by=group_by, since=since, until=until, tenant_id=tenant_id,
                  key_id=key_id, model=model, key_names=names)


@router.get("/usage")
async def usage(
    _: AdminDep, database: DatabaseDep, tenant: str | None = None,
    key: Annotated[str | None, Query(description="A key's prefix.")] = None, model: str | None = None,
    start: FromQuery = None, end: ToQuery = None, group_by: GroupBy = "day",
) -> UsageReport:
    groups = await run_in_threadpool(lambda: _totals(
        database, tenant=tenant, key=key, model=model, start=start, end=end, group_by=group_by))
    data = [
        UsageGroup(**{name: value for name, value in vars(g).items() if name != "cost_nano"},
                   cost_eur=to_eur(g.cost_nano) or Decimal(0))
        for g in groups
    ]
    total = sum(g.cost_nano for g in groups)
    return UsageReport(group_by=group_by, data=data, total_cost_eur=to_eur(total) or Decimal(0))


@router.get("/usage.csv", response_class=Response,
            responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}})
async def usage_csv(
    _: AdminDep, database: DatabaseDep, tenant: str | None = None,
    key: Annotated[str | None, Query(description="A key's prefix.")] = None, model: str | None = None,
    start: FromQuery = None, end: ToQuery = None, group_by: GroupBy = "day",
) -> Response:
    groups = await run_in_threadpool(lambda: _totals(
        database, tenant=tenant, key=key, model=model, start=start, end=end, group_by=group_by))
    return Response(as_csv(groups, group_by), media_type="text/csv",
                    headers={"Content-Disposition": 'attachment; filename="usage.csv"'})
