"""The console end to end in headless Chromium, against real OpenID Connect providers: the operator
signs in and sets up a tenant; the tenant's administrator connects their own provider, signs in
through it, issues a key, watches its usage arrive, and revokes it; and the walls hold."""

from __future__ import annotations

import re
from collections.abc import Iterator

import openai
import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import update
from sqlalchemy.orm import Session

from llmaas.auth import KeyService
from llmaas.console import issue_login_link
from llmaas.storage.tables import ConsoleSessionRow
from tests.clients import sdk
from tests.console.browser import accessible, chromium, person, shot, sign_in
from tests.console.conftest import Site


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    expect.set_options(timeout=15_000)  # two cores shared with the rest of the suite: room to breathe
    with chromium() as browser:
        yield browser


def _csp_violations(page: Page) -> list[str]:
    seen: list[str] = []
    page.on("console", lambda m: seen.append(m.text) if "Content Security Policy" in m.text else None)
    return seen


def test_operator_and_tenant_administrator_each_through_their_own_provider(
    site: Site, browser: Browser
) -> None:
    # The operator's staff sign in through the operator's provider and set up a tenant and its tier.
    operator = person(browser).new_page()
    violations = _csp_violations(operator)
    sign_in(operator, site.url, email="ops@operator.test", login="ops")
    expect(operator.get_by_text("ops@operator.test — operator admin")).to_be_visible()
    operator.goto(f"{site.url}/console/tenants")
    operator.get_by_label("Name", exact=True).nth(1).fill("pilot")
    operator.get_by_label("Requests per minute").fill("120")
    operator.get_by_role("button", name="Create tier").click()
    operator.get_by_label("Name", exact=True).first.fill("acme")
    operator.get_by_label("Tier", exact=True).select_option("pilot")
    operator.get_by_role("button", name="Create tenant").click()
    operator.get_by_label("Name", exact=True).first.fill("globex")
    operator.get_by_role("button", name="Create tenant").click()
    expect(operator.get_by_role("cell", name="acme", exact=True)).to_be_visible()
    accessible(operator)
    shot(operator, "tenants")
    # acme's own provider may claim only the e-mail domains the operator grants acme.
    operator.get_by_role("link", name="acme", exact=True).click()
    operator.get_by_label("E-mail domains").fill("acme.test")
    operator.get_by_role("button", name="Save tenant").click()
    expect(operator).to_have_url(re.compile(r"/console/tenants$"))

    # acme's administrator, let in once by a break-glass link, connects acme's own provider.
    link = issue_login_link(site.settings, site.database, tenant="acme")
    onboarding = person(browser).new_page()
    onboarding.goto(link)
    onboarding.goto(f"{site.url}/console/identity")
    provider = site.tenant_provider
    assert provider is not None
    onboarding.get_by_label("Issuer URL").fill(provider.issuer)
    onboarding.get_by_label("Client id").fill(provider.client_id)
    onboarding.get_by_label("Client secret").fill(provider.client_secret)
    onboarding.get_by_label("E-mail domains").fill("acme.test")
    onboarding.get_by_label("Groups of administrators").fill("console-admins")
    onboarding.get_by_role("button", name="Save and test").click()
    expect(onboarding.get_by_text("Test of the provider: ok")).to_be_visible()
    assert provider.client_secret not in onboarding.content()  # stored, never shown back
    accessible(onboarding)
    shot(onboarding, "identity")
    onboarding.goto(link)  # a link opens once
    expect(onboarding.get_by_role("alert")).to_contain_text("unknown, used, expired or disabled")

    # Then they sign in through it, and only with a group that maps to a role.
    ada = person(browser).new_page()
    violations += _csp_violations(ada)
    sign_in(ada, site.url, email="ada@acme.test", login="ada")
    expect(ada.get_by_text("ada@acme.test — tenant admin of acme")).to_be_visible()
    bob = person(browser).new_page()
    bob.goto(f"{site.url}/console/login")
    bob.get_by_label("Work e-mail address").fill("bob@acme.test")
    bob.get_by_role("button", name="Continue").click()
    bob.locator("input[name=login]").fill("bob")
    bob.locator("input[name=password]").fill("x")
    bob.locator("button[type=submit]").click()
    bob.get_by_role("button", name="Continue").click()
    expect(bob.get_by_role("alert")).to_contain_text("no role in this console")

    # A key, shown once, used with the official SDK; its usage appears on the overview within seconds.
    ada.goto(f"{site.url}/console/keys")
    ada.get_by_label("Name").fill("support-bot")
    ada.get_by_role("button", name="Create key").click()
    secret = ada.get_by_label("Secret key").input_value()
    assert secret.startswith("sk-llmaas-")
    accessible(ada)
    shot(ada, "keys")
    ada.goto(f"{site.url}/console/")
    expect(ada.locator("[data-total=requests]")).to_have_text("0")
    client = sdk(f"{site.url}/v1", secret)
    answer = client.chat.completions.create(model="chat-model", messages=[{"role": "user", "content": "hi"}])
    assert answer.choices[0].message.content
    # The open page polls: the call shows without a reload.
    expect(ada.locator("[data-total=requests]")).to_have_text("1", timeout=15_000)
    ada.wait_for_selector(".chart canvas")
    accessible(ada)
    shot(ada, "overview")
    ada.goto(f"{site.url}/console/usage")
    ada.wait_for_selector("#usage-chart canvas")
    accessible(ada)
    shot(ada, "usage")
    ada.goto(f"{site.url}/console/usage?group_by=model")
    expect(ada.get_by_role("cell", name="chat-model")).to_be_visible()
    with ada.expect_download() as download:
        ada.get_by_role("link", name="Export as CSV").click()
    assert "chat-model,1," in download.value.path().read_text()

    # Its limits edited in the console apply to its very next call: now another model only.
    ada.goto(f"{site.url}/console/keys")
    prefix = secret[:18]
    ada.get_by_role("link", name=prefix).click()
    ada.get_by_label("Allowed models").fill("old-model")
    ada.get_by_label("Monthly budget").fill("20")
    ada.get_by_role("button", name="Save key").click()
    expect(ada.get_by_role("cell", name="old-model", exact=True)).to_be_visible()
    with pytest.raises(openai.PermissionDeniedError):
        client.chat.completions.create(model="chat-model", messages=[{"role": "user", "content": "hi"}])
    ada.goto(f"{site.url}/console/keys/{prefix}")
    expect(ada.get_by_label("Monthly budget")).to_have_value("20.00")
    accessible(ada)
    shot(ada, "key")

    # Revoked in the console, the key's next call is refused.
    ada.goto(f"{site.url}/console/keys")
    ada.get_by_role("button", name=f"Revoke key {prefix}").click()
    expect(ada.get_by_role("cell", name="revoked")).to_be_visible()
    with pytest.raises(openai.AuthenticationError):
        client.chat.completions.create(model="chat-model", messages=[{"role": "user", "content": "hi"}])

    # Another tenant stays out of reach, whatever the URL says.
    globex_key = KeyService(site.database).create(name="theirs", tenant="globex").key.prefix
    for path in ("/console/keys?tenant=globex", "/console/usage?tenant=globex", "/console/?tenant=globex",
                 "/console/identity?tenant=globex", f"/console/usage?key={globex_key}",
                 f"/console/keys/{globex_key}"):
        response = ada.goto(f"{site.url}{path}")
        assert response is not None and response.status == 404, path
        assert "theirs" not in ada.content()
    for path in ("/console/tenants", "/console/tiers/pilot", "/console/tenants/acme"):
        response = ada.goto(f"{site.url}{path}")
        assert response is not None and response.status == 403, path
    # Their audit log: what was done to acme and its keys, nothing of globex's.
    ada.goto(f"{site.url}/console/audit")
    expect(ada.get_by_role("cell", name="key.update", exact=True)).to_be_visible()
    assert globex_key not in ada.content() and "tenant globex" not in ada.content()
    accessible(ada)
    shot(ada, "audit-tenant")
    ada.goto(f"{site.url}/console/keys")
    csrf = ada.locator("input[name=csrf_token]").first.input_value()
    revoke = ada.request.post(f"{site.url}/console/keys/{globex_key}/revoke", form={"csrf_token": csrf})
    assert revoke.status == 404
    assert KeyService(site.database).list(tenant="globex")[0].revoked_at is None

    # A post without the session's CSRF token is refused, and changes nothing.
    forged = ada.request.post(f"{site.url}/console/keys", form={"csrf_token": "forged", "name": "evil"})
    assert forged.status == 403
    assert "evil" not in {k.name for k in KeyService(site.database).list(tenant="acme")}

    # The operator's pages: the catalog's lifecycle banner, the audit log of what just happened.
    operator.goto(f"{site.url}/console/catalog")
    expect(operator.get_by_role("status")).to_contain_text(
        "old-model is deprecated and retires on 2036-06-01: move to chat-model")
    accessible(operator)
    shot(operator, "catalog")
    operator.goto(f"{site.url}/console/audit")
    for action in ("console.login", "tenant.create", "tier.create", "identity.connect", "key.create",
                   "key.revoke"):
        expect(operator.get_by_role("cell", name=action, exact=True).first).to_be_visible()
    accessible(operator)
    shot(operator, "audit")
    operator.goto(f"{site.url}/console/")
    accessible(operator)

    # The operator edits a tier's limits and policy, and a tenant's prepaid credit.
    operator.goto(f"{site.url}/console/tenants")
    operator.get_by_role("link", name="pilot", exact=True).click()
    operator.get_by_label("Tokens per minute").fill("50000")
    operator.get_by_label("Guardrail against prompt injection").select_option("block")
    accessible(operator)
    shot(operator, "tier")
    operator.get_by_role("button", name="Save tier").click()
    expect(operator.get_by_role("cell", name="50000", exact=True)).to_be_visible()
    operator.get_by_role("link", name="acme", exact=True).click()
    operator.get_by_label("Prepaid credit").fill("100")
    accessible(operator)
    shot(operator, "tenant")
    operator.get_by_role("button", name="Save tenant").click()
    expect(operator).to_have_url(re.compile(r"/console/tenants$"))

    # The public status page, a link away from every console page.
    operator.get_by_role("link", name="Service status").click()
    expect(operator).to_have_url(re.compile(r"/status$"))
    accessible(operator)
    shot(operator, "status")
    operator.goto(f"{site.url}/console/")

    # A session past its end goes back to the login page.
    with Session(site.database) as session, session.begin():
        session.execute(update(ConsoleSessionRow).where(ConsoleSessionRow.email == "ada@acme.test")
                        .values(expires_at=ConsoleSessionRow.created_at))
    ada.goto(f"{site.url}/console/keys")
    assert ada.url.endswith("/console/login")
    accessible(ada)
    shot(ada, "login")

    # Signing out ends the session at the console and at the provider.
    operator.get_by_role("button", name="Sign out").click()
    operator.goto(f"{site.url}/console/")
    expect(operator).to_have_url(re.compile(r"/console/login$"))
    assert not violations, violations
