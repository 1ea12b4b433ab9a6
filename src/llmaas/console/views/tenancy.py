"""Tenants and tiers (the operator's), edited; and keys: created with the secret shown once, their
limits edited, rotated, revoked."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from llmaas.auth import KeyLimits
from llmaas.auth.keys import KeyListing
from llmaas.console.guard import ConsoleDep, FormDep, PrincipalDep, field, render
from llmaas.console.roles import Principal
from llmaas.errors import InvalidRequest, LlmaasError, NotFound
from llmaas.guardrails import Policy
from llmaas.storage.tables import MAX_RATE
from llmaas.tenancy import TenantService, TierService
from llmaas.tenancy.money import to_nano
from llmaas.tenancy.tenants import clean_email_domains

router = APIRouter()
ROTATION_GRACE = timedelta(hours=24)  # the old secret keeps working this long after a rotation
TIER_COUNTS = ("requests_per_minute", "tokens_per_minute", "output_tokens_per_hour", "output_tokens_per_day")


@router.get("/tenants")
async def tenants(request: Request, principal: PrincipalDep, console: ConsoleDep) -> Response:
    principal.require_operator()
    return render(request, "tenants.html", **await _tenancy(console.database))


@router.post("/tenants")
async def create_tenant(request: Request, principal: PrincipalDep, console: ConsoleDep,
                        form: FormDep) -> Response:
    principal.require_operator()
    principal.require_admin()
    name, tier = field(form, "name"), field(form, "tier", limit=100)
    try:
        if not name:
            raise InvalidRequest("Give the tenant a name.", param="name")
        async with console.writing(principal, request, "tenant.create", "tenant", name,
                                   fields=["name", "tier"]):
            await run_in_threadpool(lambda: TenantService(console.database).create(name=name, tier=tier))
    except LlmaasError as error:
        return render(request, "tenants.html", error=error.message, status_code=error.status_code,
                      **await _tenancy(console.database))
    return RedirectResponse("/console/tenants", status_code=303)


@router.post("/tiers")
async def create_tier(request: Request, principal: PrincipalDep, console: ConsoleDep,
                      form: FormDep) -> Response:
    principal.require_operator()
    principal.require_admin()
    name = field(form, "name", limit=100)
    try:
        if not name:
            raise InvalidRequest("Give the tier a name.", param="name")
        limits: dict[str, int | None] = {"monthly_cap_nano": _euros(form, "monthly_cap_eur"),
                  "requests_per_minute": _count(form, "requests_per_minute"),
                  "tokens_per_minute": _count(form, "tokens_per_minute")}
        async with console.writing(principal, request, "tier.create", "tier", name,
                                   fields=sorted(["name", *(k for k, v in limits.items() if v is not None)])):
            await run_in_threadpool(lambda: TierService(console.database).create(
                name=name, description=field(form, "description", limit=500), **limits))  # type: ignore[arg-type]
    except LlmaasError as error:
        return render(request, "tenants.html", error=error.message, status_code=error.status_code,
                      **await _tenancy(console.database))
    return RedirectResponse("/console/tenants", status_code=303)


@router.get("/tenants/{name}")
async def tenant(name: str, request: Request, principal: PrincipalDep, console: ConsoleDep) -> Response:
    principal.require_operator()
    return render(request, "tenant.html", **await _tenant(console.database, name))


@router.post("/tenants/{name}")
async def change_tenant(name: str, request: Request, principal: PrincipalDep, console: ConsoleDep,
                        form: FormDep) -> Response:
    """Move a tenant to another tier, set its prepaid credit (left empty: unchanged) and, from the
    tenant's page, the e-mail domains its own identity provider may claim."""
    principal.require_operator()
    principal.require_admin()
    tier = field(form, "tier", limit=100) or None
    try:
        credit = _euros(form, "prepaid_credit_eur")
        domains = None
        if "email_domains" in form:  # absent from the list page's form: the grant stays
            domains = clean_email_domains(field(form, "email_domains", limit=2000).split(","))
            current = await run_in_threadpool(TenantService(console.database).get, name)
            domains = None if domains == current.email_domains else domains
        changed = [k for k, v in (("tier", tier), ("prepaid_credit_eur", credit), ("email_domains", domains))
                   if v is not None]
        async with console.writing(principal, request, "tenant.update", "tenant", name, fields=changed):
            await run_in_threadpool(lambda: TenantService(console.database).update(
                name, tier=tier, prepaid_credit_nano=credit, email_domains=domains))
    except LlmaasError as error:
        if field(form, "from") == "tenant":
            return render(request, "tenant.html", error=error.message, status_code=error.status_code,
                          **await _tenant(console.database, name))
        return render(request, "tenants.html", error=error.message, status_code=error.status_code,
                      **await _tenancy(console.database))
    return RedirectResponse("/console/tenants", status_code=303)


@router.get("/tiers/{name}")
async def tier(name: str, request: Request, principal: PrincipalDep, console: ConsoleDep) -> Response:
    principal.require_operator()
    found = await run_in_threadpool(TierService(console.database).get, name)
    return render(request, "tier.html", tier=found, policies=list(Policy))


@router.post("/tiers/{name}")
async def change_tier(name: str, request: Request, principal: PrincipalDep, console: ConsoleDep,
                      form: FormDep) -> Response:
    """Set a tier's spending cap, throughput limits and guardrail policy; an empty limit is none."""
    principal.require_operator()
    principal.require_admin()
    try:
        current = await run_in_threadpool(TierService(console.database).get, name)
        limits: dict[str, int | None] = {
            "monthly_cap_nano": _euros(form, "monthly_cap_eur"),
            **{f: _count(form, f) for f in TIER_COUNTS}}
        policy = _policy(form) or current.guardrail
        description = field(form, "description", limit=500)
        changed = sorted([*(k for k, v in limits.items() if v != getattr(current, k)),
                          *(["guardrail"] if policy != current.guardrail else []),
                          *(["description"] if description != current.description else [])])
        async with console.writing(principal, request, "tier.update", "tier", name, fields=changed):
            await run_in_threadpool(lambda: TierService(console.database).update(
                name, guardrail=policy, description=description, **limits))
    except LlmaasError as error:
        found = await run_in_threadpool(TierService(console.database).get, name)
        return render(request, "tier.html", tier=found, policies=list(Policy), error=error.message,
                      status_code=error.status_code)
    return RedirectResponse("/console/tenants", status_code=303)


@router.get("/keys")
async def keys(request: Request, principal: PrincipalDep, console: ConsoleDep,
               tenant: Annotated[str | None, Query(max_length=200)] = None) -> Response:
    scoped = principal.scope(tenant)
    return render(request, "keys.html", **await _keys(console, scoped, principal.operator))


@router.post("/keys")
async def create_key(request: Request, principal: PrincipalDep, console: ConsoleDep,
                     form: FormDep) -> Response:
    principal.require_admin()
    tenant = principal.scope(field(form, "tenant"))
    try:
        if tenant is None:
            raise InvalidRequest("Choose the key's tenant.", param="tenant")
        name = field(form, "name") or "console"
        models = _models(form)
        limits = KeyLimits(_count(form, "requests_per_minute"), _count(form, "tokens_per_minute"),
                           _euros(form, "monthly_budget_eur"))
        guardrail, expires_at = _policy(form), _expiry(form)
        async with console.writing(principal, request, "key.create", "key", "", tenant=tenant, name=name,
                                   fields=["name", "tenant"]) as row:
            issued = await run_in_threadpool(lambda: console.keys.create(
                name=name, tenant=tenant, limits=limits, allowed_models=models, expires_at=expires_at,
                guardrail=guardrail))
            row.target = issued.key.prefix
    except LlmaasError as error:
        return render(request, "keys.html", error=error.message, status_code=error.status_code,
                      **await _keys(console, tenant, principal.operator))
    # The secret is in this one answer only: shown once, never stored or logged.
    return render(request, "keys.html", created=issued.secret, status_code=201,
                  **await _keys(console, tenant, principal.operator))


@router.get("/keys/{prefix}")
async def key(prefix: str, request: Request, principal: PrincipalDep, console: ConsoleDep) -> Response:
    return render(request, "key.html", key=await _own_key(console, principal, prefix), policies=list(Policy))


@router.post("/keys/{prefix}")
async def change_key(prefix: str, request: Request, principal: PrincipalDep, console: ConsoleDep,
                     form: FormDep) -> Response:
    """Set an active key's limits, budget, models, guardrail policy and expiry; the secret stays."""
    principal.require_admin()
    listing = await _own_key(console, principal, prefix)
    try:
        name = field(form, "name") or listing.name
        models = _models(form)
        limits = KeyLimits(_count(form, "requests_per_minute"), _count(form, "tokens_per_minute"),
                           _euros(form, "monthly_budget_eur"))
        guardrail = _policy(form)
        expires_at = listing.expires_at  # the same day kept as it is (a rotation's grace ends mid-day)
        if field(form, "expires_on", limit=10) != (expires_at.date().isoformat() if expires_at else ""):
            expires_at = _expiry(form)
        now = KeyListing(listing.id, name, prefix, listing.tenant, listing.created_at, expires_at, None,
                         limits, models, guardrail)
        changed = sorted(f for f in ("name", "limits", "allowed_models", "guardrail", "expires_at")
                         if getattr(now, f) != getattr(listing, f))
        async with console.writing(principal, request, "key.update", "key", prefix, tenant=listing.tenant,
                                   fields=changed):
            await run_in_threadpool(lambda: console.keys.update(
                prefix, name=name, allowed_models=models, expires_at=expires_at, guardrail=guardrail,
                requests_per_minute=limits.requests_per_minute, tokens_per_minute=limits.tokens_per_minute,
                monthly_budget_nano=limits.monthly_budget_nano))
    except LlmaasError as error:
        return render(request, "key.html", key=listing, policies=list(Policy), error=error.message,
                      status_code=error.status_code)
    query = f"?tenant={quote(listing.tenant)}" if principal.operator else ""
    return RedirectResponse(f"/console/keys{query}", status_code=303)


@router.post("/keys/{prefix}/revoke")
async def revoke_key(prefix: str, request: Request, principal: PrincipalDep, console: ConsoleDep,
                     _: FormDep) -> Response:
    principal.require_admin()
    listing = await _own_key(console, principal, prefix)
    async with console.writing(principal, request, "key.revoke", "key", prefix):
        if not await run_in_threadpool(console.keys.revoke, prefix):
            raise NotFound(f"No active key with prefix {prefix}.", param="prefix")
    query = f"?tenant={listing.tenant}" if principal.operator else ""
    return RedirectResponse(f"/console/keys{query}", status_code=303)


@router.post("/keys/{prefix}/rotate")
async def rotate_key(prefix: str, request: Request, principal: PrincipalDep, console: ConsoleDep,
                     _: FormDep) -> Response:
    """A new secret with the same tenant, limits and models, shown once; the old one works for
    ROTATION_GRACE more, so clients can move over."""
    principal.require_admin()
    listing = await _own_key(console, principal, prefix)
    async with console.writing(principal, request, "key.rotate", "key", prefix,
                               grace_seconds=int(ROTATION_GRACE.total_seconds())) as row:
        issued = await run_in_threadpool(lambda: console.keys.rotate(prefix, grace=ROTATION_GRACE))
        row.details["new_prefix"] = issued.key.prefix
    return render(request, "keys.html", created=issued.secret, status_code=201,
                  **await _keys(console, listing.tenant if principal.operator else principal.tenant,
                                principal.operator))


async def _own_key(console: ConsoleDep, principal: Principal, prefix: str) -> KeyListing:
    """The key of `prefix`, when the principal may act on it; another tenant's key reads as none."""
    listing = next((k for k in await run_in_threadpool(console.keys.list) if k.prefix == prefix), None)
    if listing is None or (not principal.operator and listing.tenant != principal.tenant):
        raise NotFound("No such key.", param="prefix")
    return listing


async def _tenant(database: Engine, name: str) -> dict[str, Any]:
    return {"tenant": await run_in_threadpool(TenantService(database).get, name),
            "tiers": await run_in_threadpool(TierService(database).list)}


async def _tenancy(database: Engine) -> dict[str, Any]:
    return {"tenants": await run_in_threadpool(TenantService(database).list),
            "tiers": await run_in_threadpool(TierService(database).list)}


async def _keys(console: ConsoleDep, tenant: str | None, operator: bool) -> dict[str, Any]:
    listed = await run_in_threadpool(lambda: console.keys.list(tenant=tenant))
    tenants = await run_in_threadpool(TenantService(console.database).list) if operator else []
    return {"keys": listed, "tenant": tenant, "tenants": tenants, "now": datetime.now(UTC)}


def _models(form: FormData) -> list[str] | None:
    """The models a key may use, comma-separated; none named: all."""
    return [m.strip()[:200] for m in field(form, "models", limit=2000).split(",") if m.strip()] or None


def _count(form: FormData, name: str) -> int | None:
    value = field(form, name, limit=20)
    if not value:
        return None
    if not value.isdigit() or not 0 < int(value) <= MAX_RATE:
        raise InvalidRequest(f"{name.replace('_', ' ')} must be a whole number above zero.", param=name)
    return int(value)


def _euros(form: FormData, name: str) -> int | None:
    value = field(form, name, limit=20)
    if not value:
        return None
    try:
        nano = to_nano(float(value))
    except (ValueError, ArithmeticError):
        nano = None
    if nano is None or not 0 <= nano < 2**62:
        raise InvalidRequest(f"{name.replace('_', ' ')} must be an amount in euros.", param=name)
    return nano


def _policy(form: FormData) -> Policy | None:
    value = field(form, "guardrail", limit=10)
    if not value:
        return None  # the tier's
    if value not in {p.value for p in Policy}:
        raise InvalidRequest("The guardrail policy is off, flag or block.", param="guardrail")
    return Policy(value)


def _expiry(form: FormData) -> datetime | None:
    value = field(form, "expires_on", limit=10)
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise InvalidRequest("The expiry is a day, such as 2027-06-30.", param="expires_on") from None
    if day <= datetime.now(UTC).date() or day.year > 9000:
        raise InvalidRequest("The expiry must be a day in the future.", param="expires_on")
    return datetime.combine(day, time(), UTC)  # the key ends as that day begins (UTC)
