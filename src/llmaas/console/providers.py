"""Identity providers: the operator's (from settings) and one per tenant (in the database), each
owning e-mail domains; the login page sends a person to the provider of their address's domain."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from llmaas.console.roles import Role
from llmaas.errors import Conflict, InvalidRequest, NotFound
from llmaas.settings import Settings
from llmaas.storage.tables import ConsoleIdentityProviderRow, TenantRow
from llmaas.tenancy.tenants import clean_email_domains


@dataclass(frozen=True)
class IdentityProvider:
    """One OpenID Connect provider; `tenant_id` None is the operator's. `client_secret` is repr=False:
    a provider printed or logged never shows it."""

    tenant_id: int | None
    tenant: str | None
    issuer: str
    client_id: str
    email_domains: tuple[str, ...]
    groups_claim: str
    admin_groups: tuple[str, ...]
    viewer_groups: tuple[str, ...]
    client_secret: str = ""

    def __repr__(self) -> str:
        return f"IdentityProvider(tenant={self.tenant!r}, issuer={self.issuer!r})"

    def role_for(self, groups: object) -> Role | None:
        """The role of a person in `groups` (the ID token's claim), admin winning; None: no access."""
        names = {g for g in groups if isinstance(g, str)} if isinstance(groups, list) else set()
        operator = self.tenant_id is None
        if names & set(self.admin_groups):
            return Role.OPERATOR_ADMIN if operator else Role.TENANT_ADMIN
        if names & set(self.viewer_groups):
            return Role.OPERATOR_VIEWER if operator else Role.TENANT_VIEWER
        return None


def domain_of(email: str) -> str:
    local, at, domain = email.strip().rpartition("@")
    if not at or not local or not domain or len(email) > 320:
        raise InvalidRequest("Enter an e-mail address.", param="email")
    return domain.lower()


def _clean_domains(domains: list[str]) -> tuple[str, ...]:
    cleaned = clean_email_domains(domains)
    if not cleaned:
        raise InvalidRequest("Give at least one e-mail domain, such as acme.com.", param="email_domains")
    return cleaned


class IdentityProviders:
    def __init__(self, database: Engine, settings: Settings) -> None:
        self._database = database
        self._settings = settings

    def operator(self) -> IdentityProvider | None:
        s = self._settings
        if not (s.console_oidc_issuer and s.console_oidc_client_id):
            return None
        return IdentityProvider(
            None, None, s.console_oidc_issuer, s.console_oidc_client_id,
            tuple(d.lower() for d in s.console_operator_domains), s.console_groups_claim,
            tuple(s.console_admin_groups), tuple(s.console_viewer_groups),
            client_secret=s.console_oidc_client_secret or "")

    def for_email(self, email: str) -> IdentityProvider | None:
        """The provider owning the address's domain: the operator's first, then a tenant's."""
        domain = domain_of(email)
        operator = self.operator()
        if operator is not None and domain in operator.email_domains:
            return operator
        return next((p for p in self.tenants() if domain in p.email_domains), None)

    def of_tenant(self, tenant_id: int | None) -> IdentityProvider | None:
        if tenant_id is None:
            return self.operator()
        return next((p for p in self.tenants() if p.tenant_id == tenant_id), None)

    def tenants(self) -> list[IdentityProvider]:
        with Session(self._database) as session:
            rows = session.execute(select(ConsoleIdentityProviderRow, TenantRow.name).join(
                TenantRow, ConsoleIdentityProviderRow.tenant_id == TenantRow.id)).all()
            return [_provider(row, name) for row, name in rows]

    def connect(self, *, tenant: str, issuer: str, client_id: str, client_secret: str | None,
                email_domains: list[str], groups_claim: str, admin_groups: list[str],
                viewer_groups: list[str]) -> IdentityProvider:
        """Set the tenant's provider; a `client_secret` of None keeps the one stored. Only domains the
        operator granted the tenant may be claimed, so no tenant takes another company's (or gmail.com);
        a domain another provider owns is refused too: each address has one way in."""
        loopback = self._settings.console_loopback_issuers and issuer.startswith(
            ("http://127.0.0.1:", "http://localhost:"))
        if not (issuer.startswith("https://") or loopback) or len(issuer) > 500:
            raise InvalidRequest("The issuer must be an https:// URL.", param="issuer")
        if not 0 < len(client_id) <= 200:
            raise InvalidRequest("Give the client id the provider issued.", param="client_id")
        domains = _clean_domains(email_domains)
        groups = [g.strip()[:200] for g in admin_groups + viewer_groups if g.strip()]
        if not groups:
            raise InvalidRequest("Map at least one group to a role.", param="admin_groups")
        with Session(self._database) as session, session.begin():
            tenant_row = session.scalar(select(TenantRow).where(TenantRow.name == tenant))
            if tenant_row is None:
                raise NotFound(f"No tenant named {tenant!r}.", param="tenant")
            tenant_id = tenant_row.id
            if ungranted := sorted(set(domains) - set(tenant_row.email_domains or ())):
                raise InvalidRequest(f"The operator has not granted {tenant} the e-mail domain "
                                     f"{', '.join(ungranted)}; ask them to.", param="email_domains")
            operator = self.operator()
            taken = set(operator.email_domains if operator else ())
            for other in session.scalars(select(ConsoleIdentityProviderRow).where(
                    ConsoleIdentityProviderRow.tenant_id != tenant_id)):
                taken |= set(other.email_domains)
            if clash := sorted(taken & set(domains)):
                raise Conflict(f"Another provider signs in {', '.join(clash)}.", param="email_domains")
            row = session.get(ConsoleIdentityProviderRow, tenant_id)
            if row is None:
                if not client_secret:
                    raise InvalidRequest("Give the client secret.", param="client_secret")
                row = ConsoleIdentityProviderRow(tenant_id=tenant_id)
                session.add(row)
            row.issuer, row.client_id = issuer.rstrip("/"), client_id
            if client_secret:
                row.client_secret = client_secret[:500]
            row.email_domains = list(domains)
            row.groups_claim = (groups_claim.strip() or "groups")[:100]
            row.admin_groups = [g.strip()[:200] for g in admin_groups if g.strip()]
            row.viewer_groups = [g.strip()[:200] for g in viewer_groups if g.strip()]
            row.updated_at = datetime.now(UTC)
            session.flush()
            return _provider(row, tenant)


def _provider(row: ConsoleIdentityProviderRow, tenant: str) -> IdentityProvider:
    return IdentityProvider(row.tenant_id, tenant, row.issuer, row.client_id, tuple(row.email_domains),
                            row.groups_claim, tuple(row.admin_groups), tuple(row.viewer_groups),
                            client_secret=row.client_secret)
