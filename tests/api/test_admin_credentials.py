"""Three credentials that never stand in for one another: a tenant's API key (the /v1 API only), the
operator's admin token (the /admin API only) and a console session (the console only); and a failed
attempt at the admin API never logs what was presented."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from llmaas.app import create_app
from llmaas.auth import KeyService
from llmaas.catalog import Catalog
from llmaas.console.roles import Role
from llmaas.console.sessions import SessionStore
from llmaas.settings import Settings
from llmaas.storage.database import create_database_engine, migrate
from tests.gateway.test_errors import assert_error
from tests.servers import serve

TOKEN = "credentials-admin-token-0123456789-abcdef"
COOKIE = "llmaas_console"
ADMIN_READS = ["/tiers", "/tenants", "/keys", "/audit", "/usage"]


@dataclass
class Gateway:
    url: str
    key: str  # a tenant's API key
    session: str  # an operator administrator's console session

    def admin(self, method: str, path: str, **options: Any) -> httpx.Response:
        return httpx.request(method, f"{self.url}/admin/api{path}", **options)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    home: Path = tmp_path_factory.mktemp("credentials")
    database = create_database_engine(f"sqlite:///{home / 'llmaas.db'}")
    migrate(database)
    key = KeyService(database).create(name="tenant-key").secret
    session = SessionStore(database, idle=timedelta(minutes=30), lifetime=timedelta(hours=1)).open(
        email="ops@operator.test", role=Role.OPERATOR_ADMIN, tenant_id=None)
    settings = Settings(home=home, admin_token=TOKEN, auth_failure_burst=1000)
    with serve(create_app(settings, catalog=Catalog([]), database=database)) as url:
        yield Gateway(url, key, session)
    database.dispose()


@pytest.mark.parametrize("path", ADMIN_READS)
def test_a_tenant_key_never_reaches_the_admin_api(gateway: Gateway, path: str) -> None:
    bearer = {"Authorization": f"Bearer {gateway.key}"}
    assert_error(gateway.admin("GET", path, headers=bearer), 401, code="invalid_admin_token")
    assert gateway.admin("GET", path, headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200


def test_a_tenant_key_writes_nothing_through_the_admin_api(gateway: Gateway) -> None:
    bearer = {"Authorization": f"Bearer {gateway.key}"}
    refused = gateway.admin("POST", "/tenants", headers=bearer, json={"name": "intruder", "tier": "free"})
    assert_error(refused, 401, code="invalid_admin_token")
    tenants = gateway.admin("GET", "/tenants", headers={"Authorization": f"Bearer {TOKEN}"}).json()
    assert "intruder" not in str(tenants)


def test_the_admin_token_is_not_an_api_key(gateway: Gateway) -> None:
    assert httpx.get(f"{gateway.url}/v1/models", headers={"Authorization": f"Bearer {gateway.key}"}
                     ).status_code == 200
    refused = httpx.get(f"{gateway.url}/v1/models", headers={"Authorization": f"Bearer {TOKEN}"})
    assert_error(refused, 401)


@pytest.mark.parametrize("path", ADMIN_READS)
def test_a_console_session_does_not_open_the_admin_api(gateway: Gateway, path: str) -> None:
    for headers in ({"Cookie": f"{COOKIE}={gateway.session}"},
                    {"Authorization": f"Bearer {gateway.session}"}):
        assert_error(gateway.admin("GET", path, headers=headers), 401, code="invalid_admin_token")


def test_the_admin_token_does_not_open_the_console(gateway: Gateway) -> None:
    overview = f"{gateway.url}/console/overview.json"
    assert httpx.get(overview, headers={"Cookie": f"{COOKIE}={gateway.session}"}).status_code == 200
    for headers in ({"Authorization": f"Bearer {TOKEN}"}, {"Cookie": f"{COOKIE}={TOKEN}"},
                    {"Cookie": f"{COOKIE}={gateway.key}"}):
        refused = httpx.get(overview, headers=headers)
        assert refused.status_code == 303 and refused.headers["location"] == "/console/login"


def test_failed_admin_authentications_never_log_the_presented_secret(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    near_miss = TOKEN[:-1] + "X"  # all but the last character of the real token
    presented = [near_miss, gateway.key, gateway.session, "guess-0123456789-0123456789-abcdef"]
    with caplog.at_level(logging.DEBUG):
        for secret in presented:
            response = gateway.admin("GET", "/tenants", headers={"Authorization": f"Bearer {secret}"})
            assert_error(response, 401, code="invalid_admin_token")
            assert secret not in response.text
    logged = caplog.text + "".join(str(record.args) for record in caplog.records)
    for secret in [*presented, TOKEN]:
        assert secret not in logged and secret[-16:] not in logged
