"""Migration 0009 gives tenants the e-mail domains the operator grants; providers connected before
keep working, their domains becoming the grant. On SQLite and PostgreSQL, down and up again."""

from __future__ import annotations

from datetime import UTC, datetime
from importlib import resources

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect
from sqlalchemy.orm import Session

from llmaas.storage.database import migrate
from llmaas.storage.tables import Base, ConsoleIdentityProviderRow
from llmaas.tenancy import TenantService


def test_the_tenants_table_matches_its_model(database: Engine) -> None:
    with database.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert [d for d in differences if "tenants" in repr(d)] == []


def test_the_grant_migration_goes_down_and_up_keeping_connected_providers_domains(database: Engine) -> None:
    tenants = TenantService(database)
    acme = tenants.create(name="acme", tier="standard")
    tenants.create(name="globex", tier="standard")
    with Session(database) as session, session.begin():
        session.add(ConsoleIdentityProviderRow(
            tenant_id=acme.id, issuer="https://idp.acme.test", client_id="c", client_secret="s",
            email_domains=["acme-corp.test", "acme.test"], groups_claim="groups", admin_groups=["a"],
            viewer_groups=[], updated_at=datetime.now(UTC)))
    config = Config()
    config.set_main_option("script_location", str(resources.files("llmaas.storage") / "migrations"))
    with database.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0008")
    assert "email_domains" not in {c["name"] for c in inspect(database).get_columns("tenants")}
    migrate(database)
    assert tenants.get("acme").email_domains == ("acme-corp.test", "acme.test")
    assert tenants.get("globex").email_domains == ()
