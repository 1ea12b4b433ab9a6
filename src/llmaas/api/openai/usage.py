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
from llmaas.tenancy.money import eur_number

router = APIRouter()


def _budget(kind: str, limit_nano: int, spent: int) -> dict[str, Any]:
    return {"type": kind, "limit_eur": eur_number(limit_nano), "spent_eur": eur_number(spent),
            "remaining_eur": eur_number(max(0, limit_nano - spent))}


def _usage(database: Engine, key: ApiKey) -> dict[str, Any]:
    since = month_start()
    by_model = report(database, group_by="model", since=since, key_id=key.id)
    key_spent = sum(g.cost_nano for g in by_model)  # the report is this key's month already
    budgets = []  # the ledger is asked only about the budgets that exist
    if key.limits.monthly_budget_nano is not None:
        budgets.append(_budget("key_budget", key.limits.monthly_budget_nano, key_spent))
    if key.tier.monthly_cap_nano is not None:
        budgets.append(_budget("tenant_monthly_cap", key.tier.monthly_cap_nano,
                               spent_nano(database, since=since, tenant_id=key.tenant_id)))
    if key.prepaid_credit_nano is not None:
        budgets.append(_budget("prepaid_credit", key.prepaid_credit_nano,
                               spent_nano(database, since=None, tenant_id=key.tenant_id)))  # never resets
    return {
        "object": "usage",
        "key": key.prefix,
        "period_start": since.isoformat(),
        "data": [{"model": g.group, "requests": g.requests, "input_tokens": g.input_tokens,
                  "output_tokens": g.output_tokens, "audio_seconds": g.audio_seconds,
                  "billed_minutes": g.billed_minutes, "cost_eur": eur_number(g.cost_nano)}
                 for g in by_model],
        "total_cost_eur": eur_number(key_spent),
        "budgets": budgets,
        # The prompt-injection policy this key's requests are screened under, and where it comes from.
        "guardrail": {"policy": key.guardrail.value,
                      "source": "tier" if key.own_guardrail is None else "key"},
    }


@router.get("/v1/usage", summary="Your key's usage this month and remaining budgets (llmaas extension)")
async def own_usage(request: Request, key: ApiKeyDep) -> Response:
    return ORJSONResponse(await run_in_threadpool(_usage, request.app.state.database, key))
