"""What every console request passes: security headers, the session, the role, the CSRF token."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.responses import Response
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from llmaas.api.deps import client_address
from llmaas.audit import AuditLog, Draft
from llmaas.auth import KeyService
from llmaas.console.oidc import OidcClient
from llmaas.console.providers import IdentityProviders
from llmaas.console.roles import Principal
from llmaas.console.sessions import SessionStore
from llmaas.errors import PermissionDenied
from llmaas.gateway import ServedCatalog
from llmaas.observability.text import UNPRINTABLE_IN_TEXT
from llmaas.settings import Settings

COOKIE = "llmaas_console"
MAX_FORM_FIELDS = 40
# Scripts and styles from the console's own origin only, no inline code; no framing anywhere.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; form-action 'self' https: http://127.0.0.1:* http://localhost:*; "
       "frame-ancestors 'none'; base-uri 'none'; object-src 'none'")
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"cache-control", b"no-store"),
]


class SignInRequired(Exception):
    """No live session: the person is sent to the login page."""


class SecurityHeaders:
    """Adds HEADERS to every console response, error pages and static files included."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {name for name, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []),
                                      *((n, v) for n, v in HEADERS if n not in names)]
            await send(message)

        await self.app(scope, receive, send_with_headers)


@dataclass(frozen=True)
class Console:
    """What the console's pages use: the platform's own services, and its sessions and providers."""

    settings: Settings
    database: Engine
    keys: KeyService
    audit: AuditLog
    served: ServedCatalog
    sessions: SessionStore
    providers: IdentityProviders
    oidc: OidcClient
    templates: Jinja2Templates

    def base_url(self, request: Request) -> str:
        return (self.settings.console_url or str(request.base_url).rstrip("/").removesuffix("/console"))

    def secure(self, request: Request) -> bool:
        return request.url.scheme == "https" or (self.settings.console_url or "").startswith("https://")

    async def record(self, principal: Principal, request: Request, action: str, target_type: str,
                     target: str, **details: Any) -> None:
        """One audit row for a console write that succeeded (refusals go through `writing`)."""
        await run_in_threadpool(lambda: self.audit.record(
            actor=principal.actor, source=source(request), action=action, target_type=target_type,
            target=target, details=details))

    def writing(self, principal: Principal, request: Request, action: str, target_type: str,
                target: str, **details: Any) -> Any:
        return self.audit.awriting(Draft(principal.actor, source(request), action, target_type, target,
                                         {"via": "console", **details}))


def source(request: Request) -> str:
    """Where a console request came from, as the audit log says it."""
    return client_address(request.scope) or "unknown"


def get_console(request: Request) -> Console:
    console: Console = request.app.state.console
    return console


ConsoleDep = Annotated[Console, Depends(get_console)]


async def signed_in(request: Request, console: ConsoleDep) -> Principal:
    token = request.cookies.get(COOKIE)
    principal = None
    if token and len(token) <= 100:
        principal = await run_in_threadpool(console.sessions.find, token)
    if principal is None:
        raise SignInRequired
    request.state.principal = principal
    return principal


PrincipalDep = Annotated[Principal, Depends(signed_in)]


async def checked_form(request: Request, principal: PrincipalDep) -> FormData:
    """The posted form, once its CSRF token matches the session's (a forged post is refused)."""
    form = await request.form(max_files=0, max_fields=MAX_FORM_FIELDS, max_part_size=64 * 1024)
    given = form.get("csrf_token")
    expected = principal.csrf_token.encode()
    if not isinstance(given, str) or not secrets.compare_digest(given.encode(), expected):
        raise PermissionDenied("The form was not sent from this console (CSRF token mismatch).", code="csrf")
    return form


FormDep = Annotated[FormData, Depends(checked_form)]


def field(form: FormData, name: str, *, limit: int = 200) -> str:
    """A form's text without what means nothing in it (controls but tab and newline, bidirectional
    overrides: observability/text.py), and PostgreSQL refuses NUL."""
    value = form.get(name)
    return UNPRINTABLE_IN_TEXT.sub("", value).strip()[:limit] if isinstance(value, str) else ""


def templates_dir() -> Path:
    return Path(__file__).parent / "templates"


def render(request: Request, template: str, *, status_code: int = 200, **context: Any) -> Response:
    """A page of the console, with who is signed in and the navigation their role allows."""
    console = get_console(request)
    principal: Principal | None = getattr(request.state, "principal", None)
    response: Response = console.templates.TemplateResponse(
        request, template, {"me": principal, **context}, status_code=status_code)
    return response
