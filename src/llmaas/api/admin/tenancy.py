"""/admin/api/tiers, /tenants and /keys: create, read, update; keys are also revoked and rotated."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from llmaas.api.admin.deps import AdminDep, AuditDep, DatabaseDep
from llmaas.api.admin.schemas import (
    KeyCreate,
    KeyCreated,
    KeyPublic,
    KeyRotate,
    KeyUpdate,
    TenantCreate,
    TenantPublic,
    TenantUpdate,
    TierCreate,
    TierPublic,
    TierUpdate,
)
from llmaas.auth import KeyLimits, KeyService
from llmaas.auth.keys import IssuedKey, KeyChanges, KeyListing
from llmaas.errors import NotFound
from llmaas.tenancy import TenantService, TierService
from llmaas.tenancy.money import to_eur, to_nano
from llmaas.tenancy.tenants import Tenant, clean_email_domains
from llmaas.tenancy.tiers import Tier

router = APIRouter(prefix="/admin/api", tags=["admin"])


def tier_public(tier: Tier) -> TierPublic:
    return TierPublic(
        name=tier.name, description=tier.description, monthly_cap_eur=to_eur(tier.monthly_cap_nano),
        requests_per_minute=tier.requests_per_minute, tokens_per_minute=tier.tokens_per_minute,
        output_tokens_per_hour=tier.output_tokens_per_hour, output_tokens_per_day=tier.output_tokens_per_day,
        guardrail=tier.guardrail,
    )


def tenant_public(tenant: Tenant) -> TenantPublic:
    return TenantPublic(name=tenant.name, tier=tenant.tier, created_at=tenant.created_at,
                        prepaid_credit_eur=to_eur(tenant.prepaid_credit_nano),
                        email_domains=list(tenant.email_domains))


def key_public(key: KeyListing) -> KeyPublic:
    return KeyPublic(
        prefix=key.prefix, name=key.name, tenant=key.tenant, models=key.allowed_models,
        requests_per_minute=key.limits.requests_per_minute, tokens_per_minute=key.limits.tokens_per_minute,
        monthly_budget_eur=to_eur(key.limits.monthly_budget_nano), created_at=key.created_at,
        expires_at=key.expires_at, revoked_at=key.revoked_at, guardrail=key.guardrail,
    )


def _tier_changes(body: TierCreate | TierUpdate) -> dict[str, int | str | None]:
    changes: dict[str, int | str | None] = {}
    for field in body.model_fields_set:
        value = getattr(body, field)
        if field == "monthly_cap_eur":
            changes["monthly_cap_nano"] = to_nano(value)
        elif field == "description" and value is None:
            continue  # a tier always has a description: null leaves it as it is, as for guardrail
        elif field != "name":
            changes[field] = value
    return changes


@router.get("/tiers")
async def list_tiers(_: AdminDep, database: DatabaseDep) -> list[TierPublic]:
    return [tier_public(t) for t in await run_in_threadpool(TierService(database).list)]


@router.post("/tiers", status_code=201)
async def create_tier(body: TierCreate, _: AdminDep, audit: AuditDep, database: DatabaseDep) -> TierPublic:
    changes = _tier_changes(body)
    description = str(changes.pop("description", "") or "")
    async with audit.writing("tier.create", "tier", body.name, fields=_fields(body)):
        tier = await run_in_threadpool(
            lambda: TierService(database).create(name=body.name, description=description, **changes)  # type: ignore[arg-type]
        )
    return tier_public(tier)


@router.patch("/tiers/{name}")
async def update_tier(
    name: str, body: TierUpdate, _: AdminDep, audit: AuditDep, database: DatabaseDep
) -> TierPublic:
    async with audit.writing("tier.update", "tier", name, fields=_fields(body)):
        tier = await run_in_threadpool(
            lambda: TierService(database).update(name, **_tier_changes(body))  # type: ignore[arg-type]
        )
    return tier_public(tier)


@router.get("/tenants")
async def list_tenants(_: AdminDep, database: DatabaseDep) -> list[TenantPublic]:
    return [tenant_public(t) for t in await run_in_threadpool(TenantService(database).list)]


@router.post("/tenants", status_code=201)
async def create_tenant(
    body: TenantCreate, _: AdminDep, audit: AuditDep, database: DatabaseDep
) -> TenantPublic:
    async with audit.writing("tenant.create", "tenant", body.name, fields=_fields(body)):
        tenant = await run_in_threadpool(lambda: TenantService(database).create(
            name=body.name, tier=body.tier, prepaid_credit_nano=to_nano(body.prepaid_credit_eur)))
    return tenant_public(tenant)


@router.patch("/tenants/{name}")
async def update_tenant(
    name: str, body: TenantUpdate, _: AdminDep, audit: AuditDep, database: DatabaseDep
) -> TenantPublic:
    async with audit.writing("tenant.update", "tenant", name, fields=_fields(body)):
        domains = None if body.email_domains is None else clean_email_domains(body.email_domains)
        tenant = await run_in_threadpool(lambda: TenantService(database).update(
            name, tier=body.tier, prepaid_credit_nano=to_nano(body.prepaid_credit_eur),
            email_domains=domains))
    return tenant_public(tenant)


@router.get("/keys")
async def list_keys(_: AdminDep, request: Request, tenant: str | None = None) -> list[KeyPublic]:
    keys: KeyService = request.app.state.keys
    return [key_public(k) for k in await run_in_threadpool(lambda: keys.list(tenant=tenant))]


@router.post("/keys", status_code=201)
async def create_key(body: KeyCreate, _: AdminDep, audit: AuditDep, request: Request) -> KeyCreated:
    keys: KeyService = request.app.state.keys
    limits = KeyLimits(body.requests_per_minute, body.tokens_per_minute, to_nano(body.monthly_budget_eur))
    # The target is the new key's public prefix, known once it is issued; never its secret.
    async with audit.writing("key.create", "key", "", tenant=body.tenant, name=body.name,
                             fields=_fields(body)) as row:
        issued = await run_in_threadpool(lambda: keys.create(
            name=body.name, tenant=body.tenant, limits=limits, allowed_models=body.models,
            expires_at=body.expires_at, guardrail=body.guardrail))
        row.target = issued.key.prefix
    return _created(keys, issued)


@router.patch("/keys/{prefix}")
async def update_key(
    prefix: str, body: KeyUpdate, _: AdminDep, audit: AuditDep, request: Request
) -> KeyPublic:
    keys: KeyService = request.app.state.keys
    sent = body.model_fields_set
    changes: KeyChanges = {}
    if body.name is not None:  # a key always has a name: null leaves it as it is
        changes["name"] = body.name
    if "models" in sent:
        changes["allowed_models"] = body.models
    if "requests_per_minute" in sent:
        changes["requests_per_minute"] = body.requests_per_minute
    if "tokens_per_minute" in sent:
        changes["tokens_per_minute"] = body.tokens_per_minute
    if "monthly_budget_eur" in sent:
        changes["monthly_budget_nano"] = to_nano(body.monthly_budget_eur)
    if "expires_at" in sent:
        changes["expires_at"] = body.expires_at
    if "guardrail" in sent:
        changes["guardrail"] = body.guardrail
    async with audit.writing("key.update", "key", prefix, fields=_fields(body)):
        return key_public(await run_in_threadpool(lambda: keys.update(prefix, **changes)))


@router.post("/keys/{prefix}/revoke")
async def revoke_key(prefix: str, _: AdminDep, audit: AuditDep, request: Request) -> KeyPublic:
    keys: KeyService = request.app.state.keys
    async with audit.writing("key.revoke", "key", prefix):
        if not await run_in_threadpool(keys.revoke, prefix):
            raise NotFound(f"No active key with prefix {prefix}.", param="prefix")
    return next(key_public(k) for k in await run_in_threadpool(keys.list) if k.prefix == prefix)


@router.post("/keys/{prefix}/rotate", status_code=201)
async def rotate_key(
    prefix: str, body: KeyRotate, _: AdminDep, audit: AuditDep, request: Request
) -> KeyCreated:
    keys: KeyService = request.app.state.keys
    async with audit.writing("key.rotate", "key", prefix, grace_seconds=body.grace_seconds) as row:
        issued = await run_in_threadpool(
            lambda: keys.rotate(prefix, grace=timedelta(seconds=body.grace_seconds)))
        row.details["new_prefix"] = issued.key.prefix
    return _created(keys, issued)


def _fields(body: BaseModel) -> list[str]:
    """The fields a request set, by name: what the audit log says of a write, never the values."""
    return sorted(body.model_fields_set)


def _created(keys: KeyService, issued: IssuedKey) -> KeyCreated:
    listing = next(k for k in keys.list(tenant=issued.key.tenant) if k.prefix == issued.key.prefix)
    return KeyCreated(**key_public(listing).model_dump(), secret=issued.secret)
