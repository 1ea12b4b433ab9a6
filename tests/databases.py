"""The databases tests run against: a SQLite file, and a private PostgreSQL server started here.

PostgreSQL runs from Debian's binaries in a temporary directory, on a free loopback port, as the
`postgres` user (initdb refuses root); each test gets a fresh database on it.
"""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, text

from llmaas.storage.database import create_database_engine, migrate
from tests.servers import free_port

KINDS = ["sqlite", "postgresql"]
_names = itertools.count()


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise RuntimeError("PostgreSQL is not installed: `make test` installs Debian's postgresql")
    return found[-1]


@contextmanager
def postgres_server(*, tls: tuple[Path, Path] | None = None) -> Iterator[str]:
    """Start a throwaway PostgreSQL server; yields an admin URL (database `postgres`). With `tls`
    (certificate, key) it also accepts TLS connections with that certificate."""
    root = Path(tempfile.mkdtemp(prefix="llmaas-pg-"))
    data, port = root / "data", free_port()
    as_postgres: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        as_postgres = ["runuser", "-u", "postgres", "--"]
    run = dict(check=True, capture_output=True, cwd=root)
    subprocess.run([*as_postgres, _pg_bin("initdb"), "-D", str(data), "-U", "postgres",
                    "--auth=trust", "--no-sync", "-E", "UTF8"], **run)  # type: ignore[call-overload]
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -F -c fsync=off"
    if tls is not None:
        for source, name in zip(tls, ("server.crt", "server.key"), strict=True):
            shutil.copy(source, data / name)  # the server refuses a key that others can read
            if as_postgres:
                shutil.chown(data / name, "postgres")
        options += " -c ssl=on"
    subprocess.run([*as_postgres, _pg_bin("pg_ctl"), "-D", str(data), "-o", options, "-w",
                    "-l", str(root / "log"), "start"], **run)  # type: ignore[call-overload]
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_postgres, _pg_bin("pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True, check=False)
        shutil.rmtree(root, ignore_errors=True)


def fresh_database(kind: str, *, sqlite_dir: Path, postgres_admin_url: str | None) -> Engine:
    """A migrated, empty database of the given kind."""
    if kind == "sqlite":
        engine = create_database_engine(f"sqlite:///{sqlite_dir / f'test{next(_names)}.db'}")
    else:
        assert postgres_admin_url is not None
        name = f"test_{os.getpid()}_{next(_names)}"
        admin = create_engine(postgres_admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        engine = create_database_engine(postgres_admin_url.rsplit("/", 1)[0] + f"/{name}")
    migrate(engine)
    return engine
