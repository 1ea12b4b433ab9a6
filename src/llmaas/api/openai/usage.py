"""GET /v1/usage (an llmaas extension): a key's own usage this month and what its budgets have left.

A key sees its own requests and the budgets that limit it, never another key's or tenant's usage.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from llmaas.api.deps import ApiKeyDep
from llmaas.api.openai.responses import ORJSONResponse
from llmaas.auth import ApiKey
from llmaas.metering.ledger import spent_nano
from llmaas.metering.reports import month_start, report
from llmaas.tenancy.money import to_eur

router = APIRouter()


def _budget(kind: str, limit_nano: int | None, spent: int) -> dict[str, Any] | None:
    if limit_nano is None:
        return None
    return {"type": kind, "limit_eur": float(to_eur(limit_nano) or 0), "spent_eur": float(to_eur(spent) or 0),
            "remaining_eur": float(to_eur(max(0, limit_nano - spent)) or 0)}


def _usage(database: Engine, key: ApiKey) -> dict[str, Any]:
    since = month_start()
    by_model = report(database, group_by="model", since=since, key_id=key.id)
    budgets = [
        _budget("key_budget", key.limits.monthly_budget_nano,
                spent_nano(database, since=since, key_id=key.id)),
        _budget("tenant_monthly_cap", key.tier.monthly_cap_nano,
                spent_nano(database, since=since, tenant_id=key.tenant_id)),
        _budget("prepaid_credit", key.prepaid_credit_nano,
                spent_nano(database, since=None, tenant_id=key.tenant_id)),  # credit never resets
    ]
    return {
        "object": "usage",
        "key": key.prefix,
        "period_start": since.isoformat(),
        "data": [{"model": g.group, "requests": g.requests, "input_tokens": g.input_tokens,
                  "output_tokens": g.output_tokens, "audio_seconds": g.audio_seconds,
                  "billed_minutes": g.billed_minutes, "cost_eur": float(to_eur(g.cost_nano) or 0)}
                 for g in by_model],
        "total_cost_eur": float(to_eur(sum(g.cost_nano for g in by_model)) or 0),
        "budgets": [budget for budget in budgets if budget is not None],
    }


@router.get("/v1/usage", summary="Your key's usage this month and remaining budgets (llmaas extension)")
async def own_usage(request: Request, key: ApiKeyDep) -> Response:
    return ORJSONResponse(await run_in_threadpool(_usage, request.app.state.database, key))
