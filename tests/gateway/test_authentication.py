"""Failed authentications are throttled per address, never logged, and the admin token is strong."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from llmaas.app import create_app
from llmaas.auth import KeyService
from llmaas.catalog import Catalog
from llmaas.cli import app as cli
from llmaas.settings import Settings
from llmaas.storage.database import create_database_engine, migrate
from tests.servers import free_port, redis_server, serve, wait_for

ADMIN_TOKEN = "throttle-admin-token-0123456789-abcdef"


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[tuple[str, str]]:
    database = create_database_engine(f"sqlite:///{tmp_path / 'llmaas.db'}")
    migrate(database)
    secret = KeyService(database).create(name="k").secret
    settings = Settings(home=tmp_path, admin_token=ADMIN_TOKEN, auth_failure_burst=3,
                        auth_failures_per_minute=6)
    with serve(create_app(settings, catalog=Catalog([]), database=database)) as url:
        yield url, secret
    database.dispose()


def models(url: str, secret: str) -> httpx.Response:
    return httpx.get(f"{url}/v1/models", headers={"Authorization": f"Bearer {secret}"})


def test_a_burst_of_wrong_keys_from_one_address_is_a_429(
    gateway: tuple[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    url, secret = gateway
    guesses = [f"sk-llmaas-guess{index:043d}" for index in range(3)]
    with caplog.at_level(logging.DEBUG):
        assert models(url, secret).status_code == 200
        assert [models(url, guess).status_code for guess in guesses] == [401, 401, 401]
        throttled = httpx.post(f"{url}/v1/chat/completions", json={},
                               headers={"Authorization": f"Bearer {guesses[0]}"})
        assert models(url, secret).status_code == 429, "no key is tried from a throttled address"
    assert throttled.status_code == 429
    error = throttled.json()["error"]
    assert (error["code"], error["type"]) == ("rate_limit_exceeded", "requests")
    assert 1 <= int(throttled.headers["retry-after"]) <= 10
    logged = caplog.text + "".join(str(record.args) for record in caplog.records)
    assert not any(guess in logged or guess[10:] in logged for guess in guesses)
    assert secret not in logged


def test_admin_token_guesses_are_throttled_too(gateway: tuple[str, str]) -> None:
    url, _ = gateway
    admin = f"{url}/admin/api/tenants"
    guesses = [httpx.get(admin, headers={"Authorization": f"Bearer guess-{n}"}) for n in range(4)]
    statuses = [response.status_code for response in guesses]
    assert statuses == [401, 401, 401, 429]
    assert httpx.get(admin, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).status_code == 429


def test_replicas_sharing_redis_throttle_an_address_together(tmp_path: Path) -> None:
    port = free_port()
    database = create_database_engine(f"sqlite:///{tmp_path / 'llmaas.db'}")
    migrate(database)
    secret = KeyService(database).create(name="k").secret
    settings = Settings(home=tmp_path, redis_url=f"redis://127.0.0.1:{port}/0", auth_failure_burst=3,
                        auth_failures_per_minute=6)
    with redis_server(tmp_path, port, "--port", str(port)), \
            serve(create_app(settings, catalog=Catalog([]), database=database)) as one, \
            serve(create_app(settings, catalog=Catalog([]), database=database)) as other:
        assert [models(one, f"sk-llmaas-guess{n:043d}").status_code for n in range(3)] == [401] * 3
        assert models(one, secret).status_code == 429
        # The other replica never saw a failure from this address; it refuses it too.
        wait_for(lambda: models(other, secret).status_code == 429, timeout_s=30,
                 what="the other replica refusing the address")
    database.dispose()


@pytest.mark.parametrize("token", ["a-21-character-token!", "ab" * 20])
def test_a_weak_admin_token_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, token: str
) -> None:
    database = create_database_engine(f"sqlite:///{tmp_path / 'llmaas.db'}")
    with pytest.raises(ValueError, match="too weak"):
        create_app(Settings(home=tmp_path, admin_token=token), catalog=Catalog([]), database=database)
    monkeypatch.setenv("LLMAAS_HOME", str(tmp_path))
    monkeypatch.setenv("LLMAAS_ADMIN_TOKEN", token)
    monkeypatch.setenv("COLUMNS", "80")
    result = CliRunner().invoke(cli, ["serve", "--no-embedded"])
    assert result.exit_code == 1
    [line] = result.output.strip().splitlines()
    assert line.startswith("Not started: LLMAAS_ADMIN_TOKEN is too weak") and token not in line
