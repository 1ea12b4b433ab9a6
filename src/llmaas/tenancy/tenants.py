"""Tenants: the customer organisations keys belong to."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from llmaas.errors import Conflict, InvalidRequest, NotFound
from llmaas.storage.tables import TenantRow, TierRow

DEFAULT_TENANT = "default"


@dataclass(frozen=True)
class Tenant:
    id: int
    name: str
    tier: str
    prepaid_credit_nano: int | None
    created_at: datetime
    email_domains: tuple[str, ...] = ()  # granted by the operator: its own provider may claim these


# A DNS name of two labels or more, international names in their ASCII (punycode) form.
_DOMAIN = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+")


def clean_email_domains(values: list[str]) -> tuple[str, ...]:
    """E-mail domains as given (\"Acme.com\", \"@acme.com\"), cleaned, sorted and checked."""
    cleaned = tuple(sorted({v.strip().lower().lstrip("@") for v in values if v.strip()}))
    if len(cleaned) > 100 or any(len(d) > 253 or not _DOMAIN.fullmatch(d) for d in cleaned):
        raise InvalidRequest("E-mail domains are names such as acme.com, separated by commas.",
                             param="email_domains")
    return cleaned


class TenantService:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def list(self) -> list[Tenant]:
        with Session(self._engine) as session:
            rows = session.execute(
                select(TenantRow, TierRow.name).join(TierRow).order_by(TenantRow.id)
            ).all()
            return [_tenant(row, tier) for row, tier in rows]

    def get(self, name: str) -> Tenant:
        with Session(self._engine) as session:
            found = session.execute(
                select(TenantRow, TierRow.name).join(TierRow).where(TenantRow.name == name)
            ).first()
            if found is None:
                raise NotFound(f"No tenant named {name!r}.", param="tenant")
            return _tenant(*found)

    def id_of(self, name: str) -> int:
        """The tenant's id, as the ledger records it (NotFound when no tenant has `name`)."""
        with Session(self._engine) as session:
            tenant_id = session.scalar(select(TenantRow.id).where(TenantRow.name == name))
        if tenant_id is None:
            raise NotFound(f"No tenant named {name!r}.", param="tenant")
        return tenant_id

    def create(self, *, name: str, tier: str, prepaid_credit_nano: int | None = None) -> Tenant:
        with Session(self._engine) as session, session.begin():
            tier_id = session.scalar(select(TierRow.id).where(TierRow.name == tier))
            if tier_id is None:
                raise NotFound(f"No tier named {tier!r}.", param="tier")
            if session.scalar(select(TenantRow.id).where(TenantRow.name == name)) is not None:
                raise Conflict(f"A tenant named {name!r} exists already.", param="name")
            row = TenantRow(name=name, tier_id=tier_id, prepaid_credit_nano=prepaid_credit_nano,
                            created_at=datetime.now(UTC))
            session.add(row)
            session.flush()
            return _tenant(row, tier)

    def update(self, name: str, *, tier: str | None = None, prepaid_credit_nano: int | None = None,
               email_domains: tuple[str, ...] | None = None) -> Tenant:
        """Change what is given; `email_domains` replaces the grant (see `clean_email_domains()`)."""
        with Session(self._engine) as session, session.begin():
            row = session.scalar(select(TenantRow).where(TenantRow.name == name))
            if row is None:
                raise NotFound(f"No tenant named {name!r}.", param="tenant")
            if tier is not None:
                tier_id = session.scalar(select(TierRow.id).where(TierRow.name == tier))
                if tier_id is None:
                    raise NotFound(f"No tier named {tier!r}.", param="tier")
                row.tier_id = tier_id
            if prepaid_credit_nano is not None:
                row.prepaid_credit_nano = prepaid_credit_nano
            if email_domains is not None:
                row.email_domains = list(email_domains)
            session.flush()
            tier_name = session.scalar(select(TierRow.name).where(TierRow.id == row.tier_id))
            assert tier_name is not None
            return _tenant(row, tier_name)


def _tenant(row: TenantRow, tier: str) -> Tenant:
    return Tenant(row.id, row.name, tier, row.prepaid_credit_nano, row.created_at,
                  tuple(row.email_domains or ()))
