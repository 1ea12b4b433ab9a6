"""The migrations make the schema the table models describe, and the newest goes down and up again;
on SQLite and PostgreSQL."""

from __future__ import annotations

from importlib import resources

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect

from llmaas.storage.database import migrate
from llmaas.storage.tables import Base


def _config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(resources.files("llmaas.storage") / "migrations"))
    return config


def test_the_audit_tables_match_their_models(database: Engine) -> None:
    with database.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    audit = [d for d in differences if "audit" in repr(d)]
    assert audit == []


def test_the_audit_migration_goes_down_and_up(database: Engine) -> None:
    config = _config(database)
    with database.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0004")
    assert not {"audit_log", "audit_head"} & set(inspect(database).get_table_names())
    migrate(database)
    assert {"audit_log", "audit_head"} <= set(inspect(database).get_table_names())
