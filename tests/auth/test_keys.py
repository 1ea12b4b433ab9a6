from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from llmaas.auth import KeyLimits, KeyService
from llmaas.auth import keys as keys_module
from llmaas.auth.keys import KEY_MARK
from llmaas.errors import AuthenticationFailed, NotFound
from llmaas.guardrails import Policy
from llmaas.storage.database import create_database_engine, migrate


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


def test_a_flood_of_made_up_keys_evicts_no_valid_key(
    database: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = KeyService(database, cache_ttl_s=60)
    issued = service.create(name="app")
    lookups = 0
    lookup = service._lookup

    def counted(digest: str) -> object:
        nonlocal lookups
        lookups += 1
        return lookup(digest)

    monkeypatch.setattr(service, "_lookup", counted)
    monkeypatch.setattr(keys_module, "_MISS_LIMIT", 100)  # the bound, small enough to overflow here
    for index in range(300):
        with pytest.raises(AuthenticationFailed):
            service.authenticate(f"{issued.key.prefix}{index:040d}")
    assert service.cached(issued.secret) == (True, issued.key), "the valid key stayed cached"
    assert lookups == 300 and len(service._misses) == 100
    with pytest.raises(AuthenticationFailed):  # a repeated wrong key is remembered: no second read
        service.authenticate(f"{issued.key.prefix}{299:040d}")
    assert lookups == 300


def test_a_secret_not_shaped_like_a_key_is_never_looked_up(database: Engine) -> None:
    service = KeyService(database)
    for secret in ("x" * 50_000, "sk-llmaas-short", "sk-llmaas-" + "é" * 48, "Bearer" * 10):
        assert service.cached(secret) == (True, None)
    assert not service._misses


def test_another_process_revoking_takes_effect_after_the_cache_ttl(database: Engine) -> None:
    gateway, admin = KeyService(database, cache_ttl_s=0), KeyService(database)
    issued = admin.create(name="app")
    gateway.authenticate(issued.secret)
    admin.revoke(issued.key.prefix)
    with pytest.raises(AuthenticationFailed):
        gateway.authenticate(issued.secret)


def test_migrations_are_idempotent(database: Engine) -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    migrate(database)
    config = Config()
    config.set_main_option("script_location", "llmaas:storage/migrations")
    head = ScriptDirectory.from_config(config).get_current_head()
    with database.connect() as connection:
        assert connection.execute(text("select version_num from alembic_version")).scalar() == head


def test_a_key_from_before_tenancy_moves_to_the_default_tenant(tmp_path: Path) -> None:
    from alembic import command
    from alembic.config import Config

    engine: Engine = create_database_engine(f"sqlite:///{tmp_path / 'old.db'}")
    config = Config()
    config.set_main_option("script_location", "llmaas:storage/migrations")
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
        connection.execute(text(
            "insert into api_keys (name, prefix, secret_hash, created_at) "
            "values ('old', 'sk-llmaas-old00000', 'h', '2026-01-01')"
        ))
    migrate(engine)
    [listing] = KeyService(engine).list()
    assert (listing.name, listing.tenant) == ("old", "default")


def test_expired_keys_and_models_a_key_may_use(database: Engine) -> None:
    service = KeyService(database)
    past = datetime.now(UTC) - timedelta(seconds=1)
    expired = service.create(name="old", expires_at=past)
    with pytest.raises(AuthenticationFailed):
        service.authenticate(expired.secret)
    limited = service.create(name="narrow", allowed_models=["m1"])
    assert limited.key.may_use("m1") and not limited.key.may_use("m2")


def test_rotation_keeps_the_old_secret_for_the_grace_period(database: Engine) -> None:
    service = KeyService(database, cache_ttl_s=0)
    old = service.create(name="app", limits=KeyLimits(requests_per_minute=7))
    new = service.rotate(old.key.prefix, grace=timedelta(hours=1))
    assert new.key.prefix != old.key.prefix and new.key.limits.requests_per_minute == 7
    assert service.authenticate(old.secret).id == old.key.id
    service.rotate(new.key.prefix, grace=timedelta(0))
    with pytest.raises(AuthenticationFailed):
        service.authenticate(new.secret)


def test_updating_a_key_applies_at_once_and_keeps_its_secret(database: Engine) -> None:
    service = KeyService(database, cache_ttl_s=60)
    issued = service.create(name="app", limits=KeyLimits(requests_per_minute=7))
    assert service.authenticate(issued.secret).limits.requests_per_minute == 7  # now cached
    ends = datetime.now(UTC) + timedelta(days=3)
    service.update(issued.key.prefix, name="renamed", requests_per_minute=None, tokens_per_minute=900,
                   allowed_models=["m1"], expires_at=ends, guardrail=Policy.BLOCK)
    key = service.authenticate(issued.secret)
    assert key.name == "renamed" and key.limits == KeyLimits(tokens_per_minute=900)
    assert key.allowed_models == frozenset({"m1"}) and key.own_guardrail is Policy.BLOCK
    assert key.expires_at == ends
    service.revoke(issued.key.prefix)
    with pytest.raises(NotFound):
        service.update(issued.key.prefix, name="x", requests_per_minute=None, allowed_models=None,
                       expires_at=None, guardrail=None)


def test_keys_belong_to_an_existing_tenant(database: Engine) -> None:
    with pytest.raises(NotFound):
        KeyService(database).create(name="x", tenant="nobody")


def test_replicas_migrating_at_once_do_not_collide(postgres_admin_url: str) -> None:
    import threading

    from sqlalchemy import create_engine as plain_engine

    admin = plain_engine(postgres_admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text('CREATE DATABASE "race"'))
    admin.dispose()
    blank = postgres_admin_url.rsplit("/", 1)[0] + "/race"
    errors: list[Exception] = []

    def start() -> None:
        try:
            engine = create_database_engine(blank)
            migrate(engine)
            engine.dispose()
        except Exception as error:
            errors.append(error)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []


def test_usage_reports_find_keys_by_prefix_revoked_ones_too(database: Engine) -> None:
    service = KeyService(database)
    kept, revoked = service.create(name="kept").key, service.create(name="gone").key
    service.revoke(revoked.prefix)
    assert service.id_of(revoked.prefix) == revoked.id
    assert service.prefixes() == {kept.id: kept.prefix, revoked.id: revoked.prefix}
    with pytest.raises(NotFound, match="No key with prefix llm-nothing"):
        service.id_of("llm-nothing")
