"""Break-glass login links: one use, minutes long, for when the operator's provider is down."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine

from llmaas.console.sessions import SessionStore
from llmaas.errors import PermissionDenied
from llmaas.settings import Settings
from llmaas.tenancy import TenantService


def issue_login_link(settings: Settings, database: Engine, *, tenant: str | None = None) -> str:
    """A link that signs its first opener in as operator admin, or as `tenant`'s admin."""
    if not settings.console_login_links:
        raise PermissionDenied("Login links are disabled (setting console_login_links).",
                               code="login_links_disabled")
    tenant_id = None if tenant is None else TenantService(database).id_of(tenant)
    store = SessionStore(database, idle=timedelta(0), lifetime=timedelta(0))
    token = store.begin_login(kind="link", tenant_id=tenant_id,
                              valid=timedelta(minutes=settings.console_login_link_minutes))
    scheme = "https" if settings.tls_cert_file else "http"
    base = settings.console_url or f"{scheme}://{settings.host}:{settings.port}"
    return f"{base.rstrip('/')}/console/auth/link?token={token}"
