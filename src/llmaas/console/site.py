"""`create_console`: the web console, an app the gateway mounts under /console."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy import Engine
from starlette.responses import RedirectResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from llmaas.audit import AuditLog
from llmaas.auth import KeyService
from llmaas.console.guard import Console, SecurityHeaders, SignInRequired, render
from llmaas.console.oidc import OidcClient
from llmaas.console.providers import IdentityProviders
from llmaas.console.sessions import SessionStore
from llmaas.console.views import auth, identity, overview, records, tenancy, usage
from llmaas.errors import LlmaasError
from llmaas.gateway import ServedCatalog
from llmaas.settings import Settings

HERE = Path(__file__).parent


def create_console(settings: Settings, *, database: Engine, keys: KeyService, audit: AuditLog,
                   served: ServedCatalog) -> FastAPI:
    """The console's app: the same services as the admin API, with sessions and roles in front."""
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    templates = Jinja2Templates(directory=HERE / "templates")
    app.state.console = Console(
        settings=settings, database=database, keys=keys, audit=audit, served=served,
        sessions=SessionStore(database, idle=timedelta(minutes=settings.console_session_idle_minutes),
                              lifetime=timedelta(hours=settings.console_session_hours)),
        providers=IdentityProviders(database, settings), oidc=OidcClient(), templates=templates)
    for module in (auth, overview, tenancy, usage, records, identity):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=HERE / "static", check_dir=False), name="static")

    @app.exception_handler(SignInRequired)
    async def sign_in(request: Request, _: Exception) -> Response:
        if request.headers.get("hx-request"):  # htmx follows this header, not a redirect
            return Response(status_code=401, headers={"HX-Redirect": "/console/login"})
        return RedirectResponse("/console/login", status_code=303)

    @app.exception_handler(LlmaasError)
    async def refused(request: Request, error: Exception) -> Response:
        assert isinstance(error, LlmaasError)
        return render(request, "error.html", message=error.message, status_code=error.status_code)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: Exception) -> Response:
        return render(request, "error.html", message="The request's parameters are not valid.",
                      status_code=400)

    app.add_middleware(SecurityHeaders)
    return app
