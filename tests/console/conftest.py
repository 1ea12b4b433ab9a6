"""The console in front of a fake engine, two real OpenID Connect providers (the operator's and the
tenant acme's), and headless Chromium driven by Playwright."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine

from llmaas.app import create_app
from llmaas.catalog import Catalog, ModelEntry, Upstream
from llmaas.settings import Settings
from tests.console.providers import Provider, issuer_url, oidc_provider
from tests.databases import fresh_database
from tests.fakes import FakeEngine
from tests.servers import serve

collect_ignore = ["oidc"]  # the providers' Node packages: nothing for pytest to walk


@dataclass
class Site:
    url: str
    database: Engine
    settings: Settings
    operator: Provider
    tenant_issuer: str
    tenant_provider: Provider | None = None


def console_catalog(engine_url: str) -> Catalog:
    def entry(model_id: str, **extra: object) -> ModelEntry:
        return ModelEntry.model_validate({
            "id": model_id, "family": "test", "owned_by": "tests", "capabilities": ["chat"],
            "context_length": 4096, "license": "Apache-2.0",
            "upstreams": [Upstream(url=f"{engine_url}/v1", model="upstream-name")],
            "pricing": {"input_per_million_tokens": 1000, "output_per_million_tokens": 2000}, **extra,
        })

    return Catalog([entry("chat-model", energy_kwh_per_million_tokens=0.4),
                    entry("old-model", deprecated_at="2026-09-01", retires_at="2036-06-01",
                          successor="chat-model")])


@pytest.fixture(scope="package")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The gateway with its console on SQLite, the operator's provider, and acme's provider (which
    acme's administrator connects in the test)."""
    home: Path = tmp_path_factory.mktemp("console")
    operator_issuer, tenant_issuer = issuer_url(), issuer_url()
    settings = Settings(
        home=home, ledger_flush_interval_s=0.05, health_interval_s=0.5,
        console_oidc_issuer=operator_issuer, console_oidc_client_id="llmaas-console",
        console_oidc_client_secret="operator-client-secret-0123456789",
        console_operator_domains=["operator.test"], console_admin_groups=["llmaas-admins"],
        console_viewer_groups=["llmaas-viewers"], console_loopback_issuers=True)
    database = fresh_database("sqlite", sqlite_dir=home, postgres_admin_url=None)
    engine = FakeEngine(model="upstream-name")
    with serve(engine.app()) as engine_url:
        app = create_app(settings, catalog=console_catalog(engine_url), database=database)
        with serve(app) as url:
            callback = f"{url}/console/auth/callback"
            operator_users = {"ops": {"email": "ops@operator.test", "groups": ["llmaas-admins"]},
                              "watcher": {"email": "watcher@operator.test", "groups": ["llmaas-viewers"]}}
            tenant_users = {"ada": {"email": "ada@acme.test", "groups": ["console-admins"]},
                            "bob": {"email": "bob@acme.test", "groups": ["staff"]}}
            with oidc_provider(home, issuer=operator_issuer, client_id="llmaas-console",
                               client_secret="operator-client-secret-0123456789", redirect_uri=callback,
                               users=operator_users) as operator, \
                 oidc_provider(home, issuer=tenant_issuer, client_id="acme-console",
                               client_secret="acme-client-secret-abcdefghij", redirect_uri=callback,
                               users=tenant_users) as tenant:
                yield Site(url, database, settings.model_copy(update={"port": int(url.rsplit(":", 1)[1])}),
                           operator, tenant_issuer, tenant)
    database.dispose()
