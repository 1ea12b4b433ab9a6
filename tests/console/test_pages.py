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
from llmaas.auth import KeyLimits, KeyService
from llmaas.catalog import Catalog
from llmaas.console import issue_login_link
from llmaas.console.providers import IdentityProviders
from llmaas.console.roles import Role
from llmaas.console.sessions import SessionStore
from llmaas.errors import PermissionDenied
from llmaas.guardrails import Policy
from llmaas.settings import Settings
from llmaas.tenancy import TenantService, TierService
from tests.databases import fresh_database
from tests.servers import free_port, serve

PAGES = ["/console/", "/console/tenants", "/console/keys", "/console/usage", "/console/usage.csv",
         "/console/catalog", "/console/audit", "/console/identity", "/console/overview.json",
         "/console/overview/totals", "/console/tiers/standard", "/console/tenants/acme"]
WRITES = ["/console/tenants", "/console/tenants/acme", "/console/tiers", "/console/keys",
          "/console/keys/sk-llmaas-x/revoke", "/console/keys/sk-llmaas-x/rotate", "/console/identity",
          "/console/tiers/standard", "/console/keys/sk-llmaas-x", "/console/logout"]


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


def test_the_operator_edits_a_tiers_limits_and_policy_and_a_tenants_credit(console: Console) -> None:
    TierService(console.database).create(name="editable", requests_per_minute=60)
    form = {"description": "Pilots", "monthly_cap_eur": "250.50", "requests_per_minute": "",
            "tokens_per_minute": "90000", "output_tokens_per_hour": "", "output_tokens_per_day": "500000",
            "guardrail": "block"}
    with console.person(Role.OPERATOR_VIEWER) as viewer:
        page = viewer.get("/console/tiers/editable")
        assert page.status_code == 200 and "<fieldset disabled" in page.text and "Save tier" not in page.text
        assert _post(viewer, "/console/tiers/editable", **form).status_code == 403
    with console.person(Role.TENANT_ADMIN, "acme") as ada:
        assert ada.get("/console/tiers/editable").status_code == 403
        assert _post(ada, "/console/tiers/editable", **form).status_code == 403
        assert ada.get("/console/tenants/acme").status_code == 403
        assert _post(ada, "/console/tenants/acme", prepaid_credit_eur="1000000").status_code == 403
    assert TierService(console.database).get("editable").requests_per_minute == 60
    with console.person(Role.OPERATOR_ADMIN) as operator:
        assert 'value="60"' in operator.get("/console/tiers/editable").text
        assert _post(operator, "/console/tiers/editable", **form).status_code == 303
        assert operator.get("/console/tiers/ghost").status_code == 404
        assert _post(operator, "/console/tenants/globex", prepaid_credit_eur="12.50").status_code == 303
    tier = TierService(console.database).get("editable")
    assert (tier.description, tier.monthly_cap_nano, tier.requests_per_minute, tier.tokens_per_minute,
            tier.output_tokens_per_day, tier.guardrail) == ("Pilots", 250_500_000_000, None, 90000, 500000,
                                                            Policy.BLOCK)
    globex = TenantService(console.database).get("globex")
    assert globex.prepaid_credit_nano == 12_500_000_000 and globex.tier in ("standard", "business")
    row = AuditLog(console.database).entries(action="tier.update")[0]
    assert row.actor == "console:operator_admin@operator.test" and row.target == "editable"
    assert row.details["fields"] == ["description", "guardrail", "monthly_cap_nano", "output_tokens_per_day",
                                     "requests_per_minute", "tokens_per_minute"]
    credit = AuditLog(console.database).entries(action="tenant.update")[0]
    assert credit.target == "globex" and credit.details["fields"] == ["prepaid_credit_eur"]
    assert "12.5" not in str(credit.details)  # field names, not values


@pytest.mark.parametrize(
    ("path", "form", "message"),
    [
        ("/console/tiers/standard", {"requests_per_minute": "-5"}, "whole number"),
        ("/console/tiers/standard", {"monthly_cap_eur": "inf"}, "amount in euros"),
        ("/console/tiers/standard", {"guardrail": "strict"}, "off, flag or block"),
        ("/console/tenants/acme", {"from": "tenant", "prepaid_credit_eur": "-1"}, "amount in euros"),
        ("/console/tenants/acme", {"from": "tenant", "prepaid_credit_eur": "lots"}, "amount in euros"),
        ("/console/tenants/acme", {"from": "tenant", "email_domains": "acme.test, not a domain"},
         "names such as acme.com"),
        ("/console/tenants/acme", {"from": "tenant", "email_domains": "localhost"}, "names such as acme.com"),
    ],
)
def test_bad_tier_and_tenant_edits_change_nothing(console: Console, path: str, form: dict[str, str],
                                                   message: str) -> None:
    def now() -> object:
        return TierService(console.database).get("standard"), TenantService(console.database).get("acme")

    before = now()
    with console.person(Role.OPERATOR_ADMIN) as operator:
        response = _post(operator, path, **form)
    assert response.status_code == 400 and message in response.text and "<form" in response.text
    assert now() == before


def test_a_keys_limits_are_edited_by_its_tenants_admins_only(console: Console) -> None:
    keys = KeyService(console.database)
    mine = keys.create(name="editable", tenant="acme", limits=KeyLimits(requests_per_minute=10)).key.prefix
    theirs = keys.create(name="globex-editable", tenant="globex").key.prefix
    form = {"name": "renamed", "models": "chat-a, chat-b", "requests_per_minute": "30",
            "tokens_per_minute": "", "monthly_budget_eur": "7.25", "guardrail": "flag",
            "expires_on": "2099-12-31"}
    with console.person(Role.TENANT_VIEWER, "acme") as bob:
        page = bob.get(f"/console/keys/{mine}")
        assert page.status_code == 200 and "<fieldset disabled" in page.text and "Save key" not in page.text
        assert _post(bob, f"/console/keys/{mine}", **form).status_code == 403
    with console.person(Role.TENANT_ADMIN, "acme") as ada:
        assert ada.get(f"/console/keys/{theirs}").status_code == 404  # another tenant's, by URL
        assert _post(ada, f"/console/keys/{theirs}", **form).status_code == 404
        assert f'href="/console/keys/{mine}"' in ada.get("/console/keys").text
        assert 'value="10"' in ada.get(f"/console/keys/{mine}").text
        assert _post(ada, f"/console/keys/{mine}", **form).status_code == 303
    edited = next(k for k in keys.list(tenant="acme") if k.prefix == mine)
    assert (edited.name, edited.allowed_models, edited.limits, edited.guardrail) == (
        "renamed", ["chat-a", "chat-b"], KeyLimits(30, None, 7_250_000_000), Policy.FLAG)
    assert edited.expires_at is not None and edited.expires_at.isoformat() == "2099-12-31T00:00:00+00:00"
    row = AuditLog(console.database).entries(action="key.update")[0]
    assert row.actor == "console:tenant_admin@acme.test" and row.target == mine
    assert row.details["tenant"] == "acme" and row.details["fields"] == [
        "allowed_models", "expires_at", "guardrail", "limits", "name"]
    with console.person(Role.OPERATOR_ADMIN) as operator:  # the operator's admins edit any tenant's keys
        cleared = _post(operator, f"/console/keys/{theirs}", name="globex-editable", guardrail="")
        assert cleared.status_code == 303 and cleared.headers["location"] == "/console/keys?tenant=globex"
        keys.revoke(mine)
        assert _post(operator, f"/console/keys/{mine}", name="late").status_code == 404
        assert operator.get("/console/keys/sk-llmaas-none").status_code == 404


def test_a_rotated_keys_grace_survives_an_edit_that_keeps_its_day(console: Console) -> None:
    keys = KeyService(console.database)
    old = keys.create(name="graceful", tenant="acme").key.prefix
    keys.rotate(old, grace=timedelta(hours=2))
    ends = next(k for k in keys.list(tenant="acme") if k.prefix == old).expires_at
    assert ends is not None
    with console.person(Role.TENANT_ADMIN, "acme") as ada:
        kept = _post(ada, f"/console/keys/{old}", name="graceful", requests_per_minute="5",
                     expires_on=ends.date().isoformat())
        assert kept.status_code == 303
    assert next(k for k in keys.list(tenant="acme") if k.prefix == old).expires_at == ends


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"requests_per_minute": "0"}, "whole number"),
        ({"tokens_per_minute": "1e9"}, "whole number"),
        ({"monthly_budget_eur": "-3"}, "amount in euros"),
        ({"guardrail": "maybe"}, "off, flag or block"),
        ({"expires_on": "2001-01-01"}, "in the future"),
        ({"expires_on": "tomorrow"}, "is a day"),
    ],
)
def test_bad_key_edits_change_nothing(console: Console, form: dict[str, str], message: str) -> None:
    keys = KeyService(console.database)
    prefix = next((k.prefix for k in keys.list(tenant="acme") if k.name == "steady"), None) or keys.create(
        name="steady", tenant="acme").key.prefix
    before = next(k for k in keys.list(tenant="acme") if k.prefix == prefix)
    with console.person(Role.TENANT_ADMIN, "acme") as ada:
        response = _post(ada, f"/console/keys/{prefix}", name="changed", **form)
    assert response.status_code == 400 and message in response.text
    assert next(k for k in keys.list(tenant="acme") if k.prefix == prefix) == before


def test_a_tenants_admins_read_the_audit_rows_of_their_tenant_and_its_keys_only(console: Console) -> None:
    with console.person(Role.OPERATOR_ADMIN) as operator:
        theirs = _post(operator, "/console/keys", tenant="globex", name="globex-audited")
        assert theirs.status_code == 201
        assert _post(operator, "/console/tenants/globex", prepaid_credit_eur="3").status_code == 303
        assert _post(operator, "/console/tenants/acme", prepaid_credit_eur="4").status_code == 303
    with console.person(Role.TENANT_ADMIN, "acme") as ada:
        assert _post(ada, "/console/keys", name="acme-audited").status_code == 201
        page = ada.get("/console/audit")
        assert 'href="/console/audit"' in page.text
        mine = ada.get("/console/audit", params={"action": "key.create"})
    globex_prefixes = {k.prefix for k in KeyService(console.database).list(tenant="globex")}
    acme_prefixes = {k.prefix for k in KeyService(console.database).list(tenant="acme")}
    assert page.status_code == 200
    shown = set(re.findall(r"<td>(key|tenant) ([^<]*)</td>", page.text))
    assert ("tenant", "acme") in shown and ("tenant", "globex") not in shown
    assert {target for kind, target in shown if kind == "key"} <= acme_prefixes
    assert not any(prefix in page.text for prefix in globex_prefixes)
    assert "key.create" in mine.text and "tenant.update" not in mine.text
    assert '<th scope="col">#</th>' not in page.text  # gaps in the sequence would count others' writes
    with console.person(Role.TENANT_VIEWER, "acme") as bob:
        assert bob.get("/console/audit").status_code == 403
        assert 'href="/console/audit"' not in bob.get("/console/keys").text
    with console.person(Role.OPERATOR_VIEWER) as watcher:
        assert globex_prefixes & set(re.findall(r"sk-llmaas-\w+", watcher.get("/console/audit").text))


def test_every_page_links_to_the_public_status_page(console: Console) -> None:
    with console.person(Role.TENANT_VIEWER, "acme") as bob:
        assert 'href="/status"' in bob.get("/console/keys").text
    assert 'href="/status"' in httpx.get(f"{console.url}/console/login").text


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
                               "admin_groups": "a"}, 400, "not granted acme the e-mail domain operator.test"),
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


def test_control_characters_never_reach_the_database(console: Console) -> None:
    """PostgreSQL refuses NUL in text, and a terminal obeys escapes: a form's control characters and
    bidirectional overrides are dropped, a query's refused (400)."""
    with console.person(Role.OPERATOR_ADMIN) as client:
        created = _post(client, "/console/keys", tenant="acme", name="nul\x00\x1b\x9b\u202ekey")
        assert created.status_code == 201, created.text[-600:]
        for query in ({"actor": "a\x00"}, {"action": "\x7f"}, {"actor": "\u202eadmin"}):
            assert client.get("/console/audit", params=query).status_code == 400
        assert client.get("/console/usage", params={"model": "m\x00"}).status_code == 400
    keys = KeyService(console.database).list(tenant="acme")
    assert "nulkey" in [k.name for k in keys]


def test_a_connected_providers_secret_is_kept_and_never_shown(
    console: Console, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "acme-provider-secret-do-not-show"
    TenantService(console.database).update("acme", email_domains=("acme-corp.test", "acme.test"))
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


def test_a_tenant_claims_only_the_e_mail_domains_the_operator_granted_it(console: Console) -> None:
    connect = {"issuer": "https://idp.globex.test", "client_id": "console", "client_secret": "s",
               "admin_groups": "admins"}
    providers = IdentityProviders(console.database, console.settings)
    globex_id = TenantService(console.database).id_of("globex")
    with console.person(Role.TENANT_ADMIN, "globex") as gina:
        # Nothing granted yet: not even the tenant's own-looking domain, nor gmail.com.
        for domains in ("globex.test", "gmail.com"):
            refused = _post(gina, "/console/identity", email_domains=domains, **connect)
            assert refused.status_code == 400 and f"e-mail domain {domains}" in refused.text
        assert "granted by the operator: none yet" in gina.get("/console/identity").text
        assert _post(gina, "/console/tenants/globex", email_domains="globex.test").status_code == 403
    with console.person(Role.TENANT_VIEWER, "globex") as viewer:
        assert _post(viewer, "/console/tenants/globex", email_domains="globex.test").status_code == 403
    with console.person(Role.OPERATOR_VIEWER) as viewer:
        assert _post(viewer, "/console/tenants/globex", email_domains="globex.test").status_code == 403
    assert providers.of_tenant(globex_id) is None
    assert TenantService(console.database).get("globex").email_domains == ()

    with console.person(Role.OPERATOR_ADMIN) as operator:
        granted = _post(operator, "/console/tenants/globex", email_domains="Globex.test, @globex-corp.test")
        assert granted.status_code == 303
        assert 'value="globex-corp.test, globex.test"' in operator.get("/console/tenants/globex").text
    assert TenantService(console.database).get("globex").email_domains == ("globex-corp.test", "globex.test")
    row = AuditLog(console.database).entries(action="tenant.update")[0]
    assert row.actor == "console:operator_admin@operator.test" and row.target == "globex"
    assert row.details["fields"] == ["email_domains"] and "globex.test" not in str(row.details)

    with console.person(Role.TENANT_ADMIN, "globex") as gina:
        assert "granted by the operator: globex-corp.test, globex.test" in gina.get("/console/identity").text
        saved = _post(gina, "/console/identity", email_domains="globex.test", **connect)
        assert saved.status_code == 200 and "Saved" in saved.text
        # An edit adding a domain never granted is refused whole; the provider keeps what it had.
        refused = _post(gina, "/console/identity", email_domains="globex.test, gmail.com", **connect)
        assert refused.status_code == 400 and "e-mail domain gmail.com" in refused.text
    provider = providers.of_tenant(globex_id)
    assert provider is not None and provider.email_domains == ("globex.test",)

    # A domain granted to two tenants by mistake still signs in through one provider only.
    TenantService(console.database).update("acme", email_domains=("acme.test", "globex.test"))
    with console.person(Role.TENANT_ADMIN, "acme") as ada:
        clash = _post(ada, "/console/identity", email_domains="globex.test", **connect)
        assert clash.status_code == 409 and "Another provider signs in globex.test" in clash.text
