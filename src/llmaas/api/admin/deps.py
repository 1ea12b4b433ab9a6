"""Admin authentication: the operator's admin token (the console's SSO sessions come later)."""

from __future__ import annotations

import secrets
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import Engine

from llmaas.api.deps import client_address
from llmaas.audit import ADMIN_TOKEN, AuditLog, Draft
from llmaas.auth import FailedAuthentications
from llmaas.errors import AuthenticationFailed, InvalidRequest, PermissionDenied
from llmaas.gateway import ServedCatalog


async def require_admin(request: Request) -> None:
    token: str | None = request.app.state.settings.admin_token
    if not token:
        raise PermissionDenied("The admin API is disabled: set LLMAAS_ADMIN_TOKEN.", code="admin_disabled")
    failures: FailedAuthentications = request.app.state.auth_failures
    address = client_address(request.scope)
    failures.check(address)  # guesses of the token are throttled with those of API keys
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    # Constant-time comparison: the token must not leak one character at a time.
    if scheme.lower() != "bearer" or not secrets.compare_digest(given.strip().encode(), token.encode()):
        await failures.failed(address)
        raise AuthenticationFailed("A valid admin token is required.", code="invalid_admin_token")


async def admin_request(request: Request) -> None:
    """What every admin API request passes: the admin token, then a query and path the database can
    hold. PostgreSQL text holds no NUL character: one is a 400 naming its parameter, not a 500."""
    await require_admin(request)
    for name, value in [*request.query_params.multi_items(), *request.path_params.items()]:
        if "\x00" in str(value):
            raise InvalidRequest(f"The parameter '{name}' contains a NUL character.", param=name)


async def get_database(request: Request) -> Engine:
    database: Engine = request.app.state.database
    return database


async def get_served_catalog(request: Request) -> ServedCatalog:
    served: ServedCatalog = request.app.state.served_catalog
    return served


@dataclass(frozen=True)
class AdminAudit:
    """Records this request's write in the audit log: the admin token as actor (it names no person),
    the client's address as source.

        async with audit.writing("tenant.create", "tenant", body.name, fields=["tier"]):
            ...
    """

    log: AuditLog
    source: str

    def writing(self, action: str, target_type: str, target: str,
                **details: Any) -> AbstractAsyncContextManager[Draft]:
        return self.log.awriting(Draft(ADMIN_TOKEN, self.source, action, target_type, target, details))


async def get_admin_audit(request: Request) -> AdminAudit:
    return AdminAudit(request.app.state.audit, client_address(request.scope) or "unknown")


AdminDep = Annotated[None, Depends(admin_request)]
DatabaseDep = Annotated[Engine, Depends(get_database)]
ServedCatalogDep = Annotated[ServedCatalog, Depends(get_served_catalog)]
AuditDep = Annotated[AdminAudit, Depends(get_admin_audit)]
