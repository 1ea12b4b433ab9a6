"""Engine set-up and schema migrations, and the platform's state kept private to its user."""

from __future__ import annotations

import contextlib
import os
from importlib import resources
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.pool import ConnectionPoolEntry


def private_home(home: Path) -> None:
    """`home` (the platform's state: its database, pid file) readable by the platform's user only:
    made 0700, or made so again when it exists with wider rights."""
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    _private(home, 0o700)


def create_database_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.removeprefix("sqlite:///")
        if path and path != ":memory:":
            _private_sqlite_file(Path(path))
        engine = create_engine(url, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


def _private_sqlite_file(path: Path) -> None:
    """The database file 0600 (SQLite gives its -wal and -shm files the same rights), its directory
    0700 when made here: tenants, usage and key hashes are nobody else's on the machine."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    for name in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        _private(name, 0o600)


def _private(path: Path, mode: int) -> None:
    """chmod `path` to `mode` when it exists, is ours and allows more."""
    with contextlib.suppress(FileNotFoundError):
        status = path.stat()
        if status.st_uid == os.getuid() and status.st_mode & 0o777 & ~mode:
            path.chmod(mode)


def _sqlite_pragmas(connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    cursor = connection.cursor()
    # WAL lets readers proceed while the gateway writes; busy_timeout rides out short write locks.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision; safe to run at every start."""
    config = Config()
    config.set_main_option("script_location", str(resources.files("llmaas.storage") / "migrations"))
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Replicas starting together would each create the same tables; one migrates at a time,
            # the others then find the schema current. The lock ends with the transaction.
            connection.execute(text("SELECT pg_advisory_xact_lock(7406482)"))
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
