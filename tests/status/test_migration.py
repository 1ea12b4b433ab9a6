"""Migration 0006 makes the table its model describes, and goes down and up again; on SQLite and
PostgreSQL. Its retention setting cannot be shorter than the page's longest window."""

from __future__ import annotations

from importlib import resources

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from pydantic import ValidationError
from sqlalchemy import Engine, inspect

from llmaas.settings import Settings
from llmaas.storage.database import migrate
from llmaas.storage.tables import Base


def test_the_health_minutes_table_matches_its_model(database: Engine) -> None:
    with database.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert [d for d in differences if "health_minutes" in repr(d)] == []


def test_the_health_minutes_migration_goes_down_and_up(database: Engine) -> None:
    config = Config()
    config.set_main_option("script_location", str(resources.files("llmaas.storage") / "migrations"))
    with database.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0005")
    assert "health_minutes" not in inspect(database).get_table_names()
    migrate(database)
    assert "health_minutes" in inspect(database).get_table_names()


def test_the_retention_covers_the_longest_window() -> None:
    assert Settings().status_retention_days == 35
    with pytest.raises(ValidationError, match="status_retention_days"):
        Settings(status_retention_days=30)
