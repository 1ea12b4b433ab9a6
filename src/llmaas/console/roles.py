"""Who is signed in to the console and what they may do: four roles, checked on every request."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from llmaas.errors import NotFound, PermissionDenied


class Role(StrEnum):
    OPERATOR_ADMIN = "operator_admin"  # everything
    OPERATOR_VIEWER = "operator_viewer"  # everything, read only
    TENANT_ADMIN = "tenant_admin"  # their tenant: keys, their identity provider, their usage
    TENANT_VIEWER = "tenant_viewer"  # their tenant's usage and keys, read only


@dataclass(frozen=True)
class Principal:
    """A signed-in person, as their session says: the role and, for a tenant's people, the tenant."""

    session_id: int
    email: str
    role: Role
    tenant_id: int | None
    tenant: str | None
    csrf_token: str

    @property
    def operator(self) -> bool:
        return self.role in (Role.OPERATOR_ADMIN, Role.OPERATOR_VIEWER)

    @property
    def admin(self) -> bool:
        return self.role in (Role.OPERATOR_ADMIN, Role.TENANT_ADMIN)

    @property
    def actor(self) -> str:
        """How the audit log names them."""
        return f"console:{self.email}"[:200]

    def require_operator(self) -> None:
        if not self.operator:
            raise PermissionDenied("This page is the operator's.", code="operator_only")

    def require_admin(self) -> None:
        if not self.admin:
            raise PermissionDenied("Your role may read, not change.", code="read_only")

    def scope(self, tenant: str | None) -> str | None:
        """The tenant a request may see: the operator's staff any (None: all); a tenant's people theirs
        only. Another tenant's name reads as not found, so names cannot be probed."""
        if self.operator:
            return tenant or None
        if tenant and tenant != self.tenant:
            raise NotFound("No such tenant.", param="tenant")
        return self.tenant
