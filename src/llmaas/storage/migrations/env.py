"""Alembic environment: runs on the connection handed over by `storage.database.migrate`."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from llmaas.storage.tables import Base


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations(context.config.attributes["connection"])
