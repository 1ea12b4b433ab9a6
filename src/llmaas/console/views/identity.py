"""Identity: a tenant's administrator connects their own OpenID Connect provider, and tests it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from llmaas.console.guard import ConsoleDep, FormDep, PrincipalDep, field, render
from llmaas.console.providers import IdentityProvider
from llmaas.errors import InvalidRequest, LlmaasError
from llmaas.tenancy import TenantService

router = APIRouter()


@router.get("/identity")
async def identity(request: Request, principal: PrincipalDep, console: ConsoleDep,
                   tenant: Annotated[str | None, Query(max_length=200)] = None) -> Response:
    scoped = principal.scope(tenant)
    return render(request, "identity.html", tenant=scoped, provider=await _provider(console, scoped),
                  granted=await _granted(console, scoped), callback=_callback(console, request))


@router.post("/identity")
async def connect(request: Request, principal: PrincipalDep, console: ConsoleDep, form: FormDep) -> Response:
    principal.require_admin()
    tenant = principal.scope(field(form, "tenant"))
    try:
        if tenant is None:
            raise InvalidRequest("Choose the tenant whose provider this is.", param="tenant")
        # The secret is a field name in the audit row, never its value.
        async with console.writing(principal, request, "identity.connect", "tenant", tenant,
                                   fields=sorted(k for k in form if k != "csrf_token" and form[k])):
            provider = await run_in_threadpool(lambda: console.providers.connect(
                tenant=tenant, issuer=field(form, "issuer", limit=500), client_id=field(form, "client_id"),
                client_secret=field(form, "client_secret", limit=500) or None,
                email_domains=field(form, "email_domains", limit=2000).split(","),
                groups_claim=field(form, "groups_claim", limit=100),
                admin_groups=field(form, "admin_groups", limit=2000).split(","),
                viewer_groups=field(form, "viewer_groups", limit=2000).split(",")))
    except LlmaasError as error:
        return render(request, "identity.html", tenant=tenant, error=error.message,
                      provider=await _provider(console, tenant), status_code=error.status_code,
                      granted=await _granted(console, tenant), callback=_callback(console, request))
    # Connected: check that the provider answers as an OpenID Connect issuer.
    test = "ok"
    try:
        await console.oidc.authorization_url(provider, redirect_uri="", state="test", code_verifier="x" * 43,
                                             nonce="test", login_hint="")
    except LlmaasError as error:
        test = error.message
    return render(request, "identity.html", tenant=tenant, provider=provider, saved=True, test=test,
                  granted=await _granted(console, tenant), callback=_callback(console, request))


def _callback(console: ConsoleDep, request: Request) -> str:
    return f"{console.base_url(request)}/console/auth/callback"


async def _provider(console: ConsoleDep, tenant: str | None) -> IdentityProvider | None:
    if tenant is None:
        return None
    tenant_id = await run_in_threadpool(TenantService(console.database).id_of, tenant)
    return await run_in_threadpool(console.providers.of_tenant, tenant_id)


async def _granted(console: ConsoleDep, tenant: str | None) -> tuple[str, ...]:
    """The e-mail domains the operator granted the tenant: the only ones its provider may claim."""
    if tenant is None:
        return ()
    return (await run_in_threadpool(TenantService(console.database).get, tenant)).email_domains
