"""Signing in and out: the login page, the provider's callback, break-glass links, logout."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from llmaas.console.guard import COOKIE, Console, ConsoleDep, FormDep, PrincipalDep, render, source
from llmaas.console.oidc import new_verifier
from llmaas.console.roles import Role
from llmaas.errors import AuthenticationFailed, InvalidRequest
from llmaas.tenancy import TenantService

router = APIRouter()
LOGIN_VALID = timedelta(minutes=10)  # time to get through the provider's sign-in
STATE_COOKIE = "llmaas_console_state"  # binds the provider's answer to the browser that asked


@router.get("/login")
async def login_page(request: Request) -> Response:
    return render(request, "login.html")


@router.post("/login")
async def login(request: Request, console: ConsoleDep,
                email: Annotated[str, Form(max_length=320)] = "") -> Response:
    try:
        provider = await run_in_threadpool(console.providers.for_email, email)
    except InvalidRequest as error:
        return render(request, "login.html", error=error.message, email=email, status_code=400)
    if provider is None:
        return render(request, "login.html", email=email, status_code=400,
                      error="No identity provider signs in that address's domain.")
    verifier, nonce = new_verifier(), secrets.token_urlsafe(24)
    state = await run_in_threadpool(lambda: console.sessions.begin_login(
        kind="oidc", tenant_id=provider.tenant_id, valid=LOGIN_VALID, code_verifier=verifier, nonce=nonce))
    url = await console.oidc.authorization_url(provider, redirect_uri=_callback(console, request),
                                               state=state, code_verifier=verifier, nonce=nonce,
                                               login_hint=email.strip())
    response = RedirectResponse(url, status_code=303)
    response.set_cookie(STATE_COOKIE, state, max_age=int(LOGIN_VALID.total_seconds()), httponly=True,
                        samesite="lax", secure=console.secure(request), path="/console/auth")
    return response


@router.get("/auth/callback")
async def callback(request: Request, console: ConsoleDep,
                   code: Annotated[str, Query(max_length=2000)] = "",
                   state: Annotated[str, Query(max_length=200)] = "") -> Response:
    bound = request.cookies.get(STATE_COOKIE, "")
    if not code or not state or not secrets.compare_digest(bound.encode(), state.encode()):
        raise AuthenticationFailed("This sign-in was not started in this browser; start again.",
                                   code="state_mismatch")
    pending = await run_in_threadpool(console.sessions.take_login, state, kind="oidc")
    if pending is None or pending.code_verifier is None or pending.nonce is None:
        raise AuthenticationFailed("This sign-in expired or was used already; start again.",
                                   code="state_expired")
    provider = await run_in_threadpool(console.providers.of_tenant, pending.tenant_id)
    if provider is None:
        raise AuthenticationFailed("That identity provider was disconnected.", code="provider_gone")
    identity = await console.oidc.identity(provider, redirect_uri=_callback(console, request), code=code,
                                           code_verifier=pending.code_verifier, nonce=pending.nonce)
    domain = identity.email.rpartition("@")[2].lower()
    role = provider.role_for(identity.groups)
    if domain not in provider.email_domains or role is None:
        await run_in_threadpool(lambda: console.audit.record(
            actor=f"console:{identity.email}", source=source(request), action="console.login",
            target_type="tenant" if provider.tenant else "operator", target=provider.tenant or "",
            outcome="refused", error_code="no_role", details={"provider": provider.issuer}))
        raise AuthenticationFailed("Your account has no role in this console: ask your administrator "
                                   "to add you to one of its groups.", code="no_role")
    logout = await console.oidc.logout_url(provider, return_to=f"{console.base_url(request)}/console/login")
    return await _open_session(console, request, email=identity.email, role=role,
                               tenant_id=provider.tenant_id, tenant=provider.tenant, how="oidc",
                               logout_url=logout)


@router.get("/auth/link")
async def login_link(request: Request, console: ConsoleDep,
                     token: Annotated[str, Query(max_length=100)] = "") -> Response:
    """A break-glass link from `llmaas console login-link`: one use, minutes long, and off when the
    operator disables links. The token rides in the query string, which the access log leaves out."""
    pending = None
    if console.settings.console_login_links and token:
        pending = await run_in_threadpool(console.sessions.take_login, token, kind="link")
    if pending is None:
        raise AuthenticationFailed("This login link is unknown, used, expired or disabled.",
                                   code="link_invalid")
    tenant = None
    if pending.tenant_id is not None:
        tenant = next(t.name for t in await run_in_threadpool(TenantService(console.database).list)
                      if t.id == pending.tenant_id)
    role = Role.OPERATOR_ADMIN if tenant is None else Role.TENANT_ADMIN
    return await _open_session(console, request, email="login-link", role=role,
                               tenant_id=pending.tenant_id, tenant=tenant, how="link", logout_url=None)


@router.post("/logout")
async def logout(request: Request, console: ConsoleDep, principal: PrincipalDep, _: FormDep) -> Response:
    provider_logout = await run_in_threadpool(console.sessions.logout_url, principal.session_id)
    await run_in_threadpool(console.sessions.revoke, principal.session_id)
    await console.record(principal, request, "console.logout", "session", str(principal.session_id))
    response = RedirectResponse(provider_logout or "/console/login", status_code=303)
    response.delete_cookie(COOKIE, path="/console")
    return response


async def _open_session(console: Console, request: Request, *, email: str, role: Role, tenant_id: int | None,
                        tenant: str | None, how: str, logout_url: str | None) -> Response:
    token = await run_in_threadpool(lambda: console.sessions.open(
        email=email, role=role, tenant_id=tenant_id, logout_url=logout_url))
    await run_in_threadpool(lambda: console.audit.record(
        actor=f"console:{email}", source=source(request), action="console.login",
        target_type="tenant" if tenant else "operator", target=tenant or "",
        details={"role": role.value, "via": how}))
    response = RedirectResponse("/console/", status_code=303)
    response.set_cookie(COOKIE, token, httponly=True, samesite="lax", secure=console.secure(request),
                        path="/console", max_age=int(console.settings.console_session_hours * 3600))
    response.delete_cookie(STATE_COOKIE, path="/console/auth")
    return response


def _callback(console: Console, request: Request) -> str:
    return f"{console.base_url(request)}/console/auth/callback"

