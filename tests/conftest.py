"""Fixtures shared by every test folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests.clients import close_clients
from tests.databases import KINDS, fresh_database, postgres_server


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    with postgres_server() as url:
        yield url


@pytest.fixture(params=KINDS)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A fresh, migrated database: each test using it runs on SQLite and on PostgreSQL."""
    admin_url = request.getfixturevalue("postgres_admin_url") if request.param == "postgresql" else None
    engine = fresh_database(request.param, sqlite_dir=tmp_path, postgres_admin_url=admin_url)
    yield engine
    engine.dispose()


@pytest.fixture(autouse=True)
def _close_sdk_clients() -> Iterator[None]:
    """Clients made with tests.clients.sdk are closed when their test ends."""
    yield
    close_clients()
