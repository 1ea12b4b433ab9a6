from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from llmaas.auth import KeyService
from llmaas.auth.keys import KEY_MARK
from llmaas.errors import AuthenticationFailed
from llmaas.storage.database import create_database_engine, migrate


@pytest.fixture
def database(tmp_path: Path) -> Engine:
    engine: Engine = create_database_engine(f"sqlite:///{tmp_path / 'keys.db'}")
    migrate(engine)
    return engine


def test_only_a_hash_is_stored(database: Engine) -> None:
    issued = KeyService(database).create(name="app")
    assert issued.secret.startswith(issued.key.prefix) and issued.key.prefix.startswith(KEY_MARK)
    with database.connect() as connection:
        stored = connection.execute(text("select prefix, secret_hash from api_keys")).one()
    assert issued.secret not in stored and stored.secret_hash != issued.secret


def test_authenticate_and_revoke(database: Engine) -> None:
    service = KeyService(database, cache_ttl_s=60)
    issued = service.create(name="app")
    assert service.authenticate(issued.secret) == issued.key
    assert service.cached(issued.secret) == (True, issued.key)
    assert service.revoke(issued.key.prefix)
    with pytest.raises(AuthenticationFailed):
        service.authenticate(issued.secret)
    assert not service.revoke(issued.key.prefix), "revoking twice reports nothing to revoke"


def test_unknown_keys_are_cached_as_unknown(database: Engine) -> None:
    service = KeyService(database, cache_ttl_s=60)
    with pytest.raises(AuthenticationFailed):
        service.authenticate("sk-llmaas-unknown")
    assert service.cached("sk-llmaas-unknown") == (True, None)


def test_another_process_revoking_takes_effect_after_the_cache_ttl(database: Engine) -> None:
    gateway, admin = KeyService(database, cache_ttl_s=0), KeyService(database)
    issued = admin.create(name="app")
    gateway.authenticate(issued.secret)
    admin.revoke(issued.key.prefix)
    with pytest.raises(AuthenticationFailed):
        gateway.authenticate(issued.secret)


def test_migrations_are_idempotent(database: Engine) -> None:
    migrate(database)
    with database.connect() as connection:
        assert connection.execute(text("select version_num from alembic_version")).scalar() == "0001"
