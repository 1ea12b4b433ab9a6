"""The usage explorer: the ledger by tenant, key, model and period, as a table and a CSV file."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from llmaas.console.guard import ConsoleDep, PrincipalDep, render
from llmaas.console.roles import Principal
from llmaas.errors import NotFound
from llmaas.metering.reports import GroupBy, UsageTotals, as_csv, report
from llmaas.observability.text import PRINTABLE_TEXT  # a query parameter is refused, not cleaned
from llmaas.tenancy import TenantService
from llmaas.tenancy.money import to_eur

router = APIRouter()


@dataclass(frozen=True)
class UsageQuery:
    tenant: str | None
    key: str | None
    model: str | None
    start: date | None
    end: date | None
    group_by: GroupBy


def usage_query(
    principal: PrincipalDep,
    tenant: Annotated[str | None, Query(max_length=200, pattern=PRINTABLE_TEXT)] = None,
    key: Annotated[str | None, Query(max_length=64, pattern=PRINTABLE_TEXT)] = None,
    model: Annotated[str | None, Query(max_length=200, pattern=PRINTABLE_TEXT)] = None,
    start: Annotated[date | None, Query(alias="from")] = None,
    end: Annotated[date | None, Query(alias="to")] = None,
    group_by: GroupBy = "day",
) -> UsageQuery:
    return UsageQuery(principal.scope(tenant), key or None, model or None, start, end, group_by)


QueryDep = Annotated[UsageQuery, Depends(usage_query)]


@router.get("/usage")
async def usage(request: Request, principal: PrincipalDep, console: ConsoleDep, query: QueryDep) -> Response:
    groups = await _totals(console, principal, query)
    tenants = await run_in_threadpool(TenantService(console.database).list) if principal.operator else []
    return render(request, "usage.html", q=query, groups=groups, tenants=tenants,
                  total=to_eur(sum(g.cost_nano for g in groups)) or 0, to_eur=to_eur,
                  csv_query=str(request.url.query))


@router.get("/usage.csv")
async def usage_csv(principal: PrincipalDep, console: ConsoleDep, query: QueryDep) -> Response:
    groups = await _totals(console, principal, query)
    return Response(as_csv(groups, query.group_by), media_type="text/csv",
                    headers={"Content-Disposition": 'attachment; filename="usage.csv"'})


async def _totals(console: ConsoleDep, principal: Principal, query: UsageQuery) -> list[UsageTotals]:
    def read() -> list[UsageTotals]:
        tenant_id = None if query.tenant is None else TenantService(console.database).id_of(query.tenant)
        key_id = None
        if query.key is not None:
            mine = [k for k in console.keys.list(tenant=query.tenant) if k.prefix == query.key]
            if not mine:  # another tenant's key reads as no key
                raise NotFound("No such key.", param="key")
            key_id = mine[0].id
        since = datetime.combine(query.start, time(), UTC) if query.start else None
        until = datetime.combine(query.end + timedelta(days=1), time(), UTC) if query.end else None
        return report(console.database, group_by=query.group_by, since=since, until=until,
                      tenant_id=tenant_id, key_id=key_id, model=query.model,
                      key_names=console.keys.prefixes())

    result: Any = await run_in_threadpool(read)
    return list(result)
