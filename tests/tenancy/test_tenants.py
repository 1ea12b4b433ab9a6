"""Tenants: created on a tier, looked up by name."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from llmaas.errors import NotFound
from llmaas.tenancy import TenantService
from llmaas.tenancy.tenants import DEFAULT_TENANT


def test_a_tenant_is_found_by_name_with_the_id_the_ledger_records(database: Engine) -> None:
    service = TenantService(database)
    acme = service.create(name="acme", tier=service.get(DEFAULT_TENANT).tier)
    assert service.id_of("acme") == acme.id
    with pytest.raises(NotFound, match="No tenant named 'nobody'"):
        service.id_of("nobody")
