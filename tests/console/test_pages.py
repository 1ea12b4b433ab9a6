"""The console's pages over HTTP: security headers everywhere, sign-in required, roles and tenants
enforced on the server, CSRF on every write, and every bad input a clear refusal."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine

from llmaas.app import create_app
from llmaas.audit import AuditLog
from llmaas.auth import KeyService
from llmaas.catalog import Catalog
from llmaas.console import issue_login_link
from llmaas.console.providers import IdentityProviders
from llmaas.console.roles import Role
from llmaas.console.sessions import SessionStore
from llmaas.errors import PermissionDenied
from llmaas.settings import Settings
from llmaas.tenancy import TenantService
from tests.databases import fresh_database
from tests.servers import free_port, serve

PAGES = ["/console/", "/console/tenants", "/console/keys", "/console/usage", "/console/usage.csv",
         "/console/catalog", "/console/audit", "/console/identity", "/console/overview.json",
         "/console/overview/totals"]
WRITES = ["/console/tenants", "/console/tenants/acme", "/console/tiers", "/console/keys",
          "/console/keys/sk-llmaas-x/revoke", "/console/keys/sk-llmaas-x/rotate", "/console/identity",
          "/console/logout"]


@dataclass
class Console:
    url: str
    database: Engine
    settings: Settings

    def person(self, role: Role, tenant: str | None = None) -> httpx.Client:
        """A client signed in with `role` (for `tenant`); its CSRF token in `headers['x-csrf']`."""
        tenant_id = None
        if tenant is not None:
            tenant_id = next(p for p in _tenants(self.database) if p[1] == tenant)[0]
        sessions = SessionStore(self.database, idle=timedelta(minutes=5), lifetime=timedelta(hours=1))
        email = f"{role.value}@{tenant or 'operator'}.test"
        token = sessions.open(email=email, role=role, tenant_id=tenant_id)
        me = sessions.find(token)
        assert me is not None
        client = httpx.Client(base_url=self.url, cookies={"llmaas_console": token})
        client.headers["x-csrf"] = me.csrf_token
        return client


def _tenants(database: Engine) -> list[tuple[int, str]]:
    return [(t.id, t.name) for t in TenantService(database).list()]


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    home: Path = tmp_path_factory.mktemp("pages")
    settings = Settings(home=home, console_oidc_issuer=f"http://127.0.0.1:{free_port()}",
                        console_oidc_client_id="c", console_oidc_client_secret="operator-secret-value",
                        console_operator_domains=["operator.test"])
    database = fresh_database("sqlite", sqlite_dir=home, postgres_admin_url=None)
    TenantService(database).create(name="acme", tier="standard")
    TenantService(database).create(name="globex", tier="standard")
    with serve(create_app(settings, catalog=Catalog([]), database=database)) as url:
        yield Console(url, database, settings)
    database.dispose()


def _post(client: httpx.Client, path: str, **form: str) -> httpx.Response:
    return client.post(path, data={"csrf_token": client.headers["x-csrf"], **form})


@pytest.mark.parametrize("path", [*PAGES, "/console/login", "/console/static/console.css", "/console/nope"])
def test_every_answer_carries_the_security_headers(console: Console, path: str) -> None:
    with console.person(Role.OPERATOR_ADMIN) as client:
        response = client.get(path)
    csp = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("path", PAGES)
def test_without_a_session_every_page_sends_to_login(console: Console, path: str) -> None:
    response = httpx.get(f"{console.url}{path}", cookies={"llmaas_console": "made-up"})
    assert response.status_code == 303 and response.headers["location"] == "/console/login"
    htmx = httpx.get(f"{console.url}{path}", headers={"HX-Request": "true"})
    assert htmx.status_code == 401 and htmx.headers["hx-redirect"] == "/console/login"


@pytest.mark.parametrize("path", WRITES)
def test_a_write_without_the_sessions_csrf_token_is_refused(console: Console, path: str) -> None:
    with console.person(Role.OPERATOR_ADMIN) as client:
        for form in ({}, {"csrf_token": "forged"}, {"csrf_token": client.headers["x-csrf"] + "x"}):
            response = client.post(path, data={**form, "name": "evil", "tenant": "acme", "tier": "standard"})
            assert response.status_code == 403 and "CSRF" in response.text, form
    assert "evil" not in {name for _, name in _tenants(console.database)}


def test_viewers_read_and_never_write(console: Console) -> None:
    with console.person(Role.OPERATOR_VIEWER) as viewer:
        assert viewer.get("/console/tenants").status_code == 200
        refused = _post(viewer, "/console/tenants", name="viewer-made", tier="standard")
        assert refused.status_code == 403 and "read, not change" in refused.text
        assert "Create tenant" not in viewer.get("/console/tenants").text
    with console.person(Role.TENANT_VIEWER, "acme") as viewer:
        assert viewer.get("/console/keys").status_code == 200
        assert _post(viewer, "/console/keys", name="k").status_code == 403


def test_a_tenants_people_see_their_tenant_only(console: Console) -> None:
    with console.person(Role.OPERATOR_ADMIN) as operator:
        assert _post(operator, "/console/keys", tenant="globex", name="globex-bot").status_code == 201
    with console.person(Role.TENANT_ADMIN, "acme") as ada:
        made = _post(ada, "/console/keys", tenant="globex", name="smuggled")  # the form names another tenant
        assert made.status_code == 404
        assert "globex-bot" not in ada.get("/console/keys").text
        for path in ("/console/keys?tenant=globex", "/console/overview.json?tenant=globex",
                     "/console/usage.csv?tenant=globex", "/console/identity?tenant=globex"):
            assert ada.get(path).status_code == 404, path
        assert ada.get("/console/tenants").status_code == 403
        assert ada.get("/console/audit").status_code == 403


def test_a_rotated_key_shows_its_new_secret_once_and_the_old_one_ends_later(console: Console) -> None:
    with console.person(Role.TENANT_ADMIN, "acme") as ada:
        made = _post(ada, "/console/keys", name="rotating")
        old = re.search(r'value="(sk-llmaas-[A-Za-z0-9]+)"', made.text)
        assert made.status_code == 201 and old is not None
        rotated = _post(ada, f"/console/keys/{old[1][:18]}/rotate")
        new = re.search(r'value="(sk-llmaas-[A-Za-z0-9]+)"', rotated.text)
        assert rotated.status_code == 201 and new is not None and new[1] != old[1]
        assert new[1] not in ada.get("/console/keys").text and "active until" in ada.get("/console/keys").text
        globex = KeyService(console.database).create(name="theirs", tenant="globex").key.prefix
        assert _post(ada, f"/console/keys/{globex}/rotate").status_code == 404
    row = AuditLog(console.database).entries(action="key.rotate")[0]
    assert row.details["new_prefix"] == new[1][:18] and new[1] not in str(vars(row))


def test_a_key_with_its_own_guardrail_and_expiry_and_a_tenant_moved_to_another_tier(console: Console) -> None:
    with console.person(Role.TENANT_ADMIN, "acme") as ada:
        made = _post(ada, "/console/keys", name="guarded", guardrail="block", expires_on="2099-01-31")
        assert made.status_code == 201
        assert _post(ada, "/console/tenants/acme", tier="business").status_code == 403
    key = next(k for k in KeyService(console.database).list(tenant="acme") if k.name == "guarded")
    assert key.guardrail == "block" and key.expires_at is not None and key.expires_at.isoformat() == (
        "2099-01-31T00:00:00+00:00")
    with console.person(Role.OPERATOR_ADMIN) as operator:
        assert _post(operator, "/console/tenants/globex", tier="business").status_code == 303
        assert _post(operator, "/console/tenants/globex", tier="gold").status_code == 404
    assert TenantService(console.database).get("globex").tier == "business"
    assert AuditLog(console.database).entries(action="tenant.update")[0].target == "globex"


def test_over_https_the_session_cookie_is_secure(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, console_url="https://llm.example.com")
    database = fresh_database("sqlite", sqlite_dir=tmp_path, postgres_admin_url=None)
    with serve(create_app(settings, catalog=Catalog([]), database=database)) as url:
        token = issue_login_link(settings, database).rsplit("=", 1)[1]
        opened = httpx.get(f"{url}/console/auth/link", params={"token": token})
    database.dispose()
    assert opened.status_code == 303 and "Secure" in opened.headers["set-cookie"]


@pytest.mark.parametrize(
    ("path", "form", "status", "message"),
    [
        ("/console/tenants", {"name": "", "tier": "standard"}, 400, "Give the tenant a name"),
        ("/console/tenants", {"name": "x", "tier": "gold"}, 404, "No tier named"),
        ("/console/tenants", {"name": "acme", "tier": "standard"}, 409, "exists already"),
        ("/console/tiers", {"name": "t", "requests_per_minute": "many"}, 400, "whole number"),
        ("/console/tiers", {"name": "t", "monthly_cap_eur": "nan"}, 400, "amount in euros"),
        ("/console/tiers", {"name": "t", "monthly_cap_eur": "1e400"}, 400, "amount in euros"),
        ("/console/keys", {"tenant": "acme", "name": "k", "requests_per_minute": "0"}, 400, "whole number"),
        ("/console/keys", {"tenant": "ghost", "name": "k"}, 404, "No tenant"),
        ("/console/keys", {"tenant": "acme", "name": "k", "guardrail": "maybe"}, 400, "off, flag or block"),
        ("/console/keys", {"tenant": "acme", "name": "k", "expires_on": "soon"}, 400, "is a day"),
        ("/console/keys", {"tenant": "acme", "name": "k", "expires_on": "2001-01-01"}, 400, "in the future"),
        ("/console/identity", {"tenant": "acme", "issuer": "ftp://x", "client_id": "c"}, 400, "https://"),
        # The gateway's own loopback is no tenant's to probe (unless console_loopback_issuers).
        ("/console/identity", {"tenant": "acme", "issuer": "http://127.0.0.1:8000", "client_id": "c",
                               "client_secret": "s", "email_domains": "acme.test", "admin_groups": "a"}, 400,
         "https://"),
        ("/console/identity", {"tenant": "acme", "issuer": "https://idp.acme.test", "client_id": "c",
                               "client_secret": "s", "email_domains": "operator.test",
                               "admin_groups": "a"}, 409, "Another provider"),
        ("/console/identity", {"tenant": "acme", "issuer": "https://idp.acme.test", "client_id": "c",
                               "client_secret": "s", "email_domains": "", "admin_groups": "a"}, 400,
         "e-mail domain"),
    ],
)
def test_bad_console_input_is_a_clear_refusal(
    console: Console, path: str, form: dict[str, str], status: int, message: str
) -> None:
    with console.person(Role.OPERATOR_ADMIN) as client:
        response = _post(client, path, **form)
    assert response.status_code == status and message in response.text, response.text[-600:]


def test_a_connected_providers_secret_is_kept_and_never_shown(
    console: Console, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "acme-provider-secret-do-not-show"
    with console.person(Role.TENANT_ADMIN, "acme") as ada:
        saved = _post(ada, "/console/identity", issuer="https://idp.acme.test", client_id="console",
                      client_secret=secret, email_domains="acme.test, @Acme-Corp.test",
                      admin_groups="admins", viewer_groups="staff")
        assert saved.status_code == 200 and "Saved" in saved.text
        assert secret not in saved.text and secret not in ada.get("/console/identity").text
    provider = IdentityProviders(console.database, console.settings).for_email("someone@ACME-corp.test")
    assert provider is not None and provider.client_secret == secret and provider.tenant == "acme"
    assert secret not in repr(provider) and secret not in caplog.text
    assert provider.role_for(["staff"]) is Role.TENANT_VIEWER
    assert provider.role_for(["admins", "x"]) is Role.TENANT_ADMIN
    assert provider.role_for("admins") is None and provider.role_for(None) is None
    row = AuditLog(console.database).entries(action="identity.connect")[0]
    assert row.actor == "console:tenant_admin@acme.test" and secret not in str(vars(row))
    assert "client_secret" in row.details["fields"]


def test_the_login_page_sends_each_address_to_its_provider(console: Console) -> None:
    login = f"{console.url}/console/login"
    assert httpx.post(login, data={"email": "not-an-address"}).status_code == 400
    unknown = httpx.post(login, data={"email": "x@nobody.test"})
    assert unknown.status_code == 400 and "No identity provider" in unknown.text
    down = httpx.post(login, data={"email": "ops@operator.test"})  # the operator's provider is not running
    assert down.status_code == 401 and "cannot be reached" in down.text
    forged = httpx.get(f"{console.url}/console/auth/callback", params={"code": "c", "state": "s"})
    assert forged.status_code == 401 and "not started in this browser" in forged.text


def test_login_links_open_once_set_strict_cookies_and_can_be_disabled(
    console: Console, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    link = issue_login_link(console.settings, console.database, tenant="acme")
    path = link.split(str(console.settings.port), 1)[1]
    opened = httpx.get(f"{console.url}{path}")
    assert opened.status_code == 303
    cookie = opened.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/console" in cookie
    assert "Secure" not in cookie  # plain HTTP on loopback; over TLS it is Secure
    assert httpx.get(f"{console.url}{path}").status_code == 401
    logged = " ".join(r.getMessage() for r in caplog.records if r.name.startswith("llmaas"))
    assert "/console/auth/link" in logged and link.rsplit("=", 1)[1] not in logged  # the token is not
    logins = AuditLog(console.database).entries(action="console.login")
    assert logins[0].target == "acme" and logins[0].details["via"] == "link"
    with pytest.raises(PermissionDenied):
        issue_login_link(console.settings.model_copy(update={"console_login_links": False}), console.database)


def test_logout_revokes_the_session(console: Console) -> None:
    with console.person(Role.OPERATOR_ADMIN) as client:
        assert _post(client, "/console/logout").status_code == 303
        assert client.get("/console/").status_code == 303
