"""`llmaas console login-link`: a one-time link, audited, and none when links are disabled."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from llmaas.audit import AuditLog
from llmaas.cli import app
from llmaas.console.sessions import SessionStore
from llmaas.tenancy import TenantService


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database: Engine) -> CliRunner:
    monkeypatch.setenv("LLMAAS_HOME", str(tmp_path))
    monkeypatch.setenv("LLMAAS_DATABASE_URL", database.url.render_as_string(hide_password=False))
    monkeypatch.setenv("LLMAAS_CONSOLE_URL", "https://llm.example.com")
    return CliRunner()


def test_a_login_link_is_printed_audited_and_opens_once(run: CliRunner, database: Engine) -> None:
    TenantService(database).create(name="acme", tier="standard")
    result = run.invoke(app, ["console", "login-link", "--tenant", "acme"])
    assert result.exit_code == 0, result.output
    link = result.stdout.strip().splitlines()[-1]
    assert link.startswith("https://llm.example.com/console/auth/link?token=")
    token = link.rsplit("=", 1)[1]
    store = SessionStore(database, idle=timedelta(minutes=1),
                         lifetime=timedelta(minutes=1))
    pending = store.take_login(token, kind="link")
    assert pending is not None and pending.tenant_id == TenantService(database).id_of("acme")
    assert store.take_login(token, kind="link") is None
    entry = AuditLog(database).entries(action="console.login_link")[0]
    assert entry.target == "acme" and entry.outcome == "ok" and token not in str(vars(entry))


def test_no_link_when_links_are_disabled_or_the_tenant_is_unknown(
    run: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    unknown = run.invoke(app, ["console", "login-link", "--tenant", "ghost"])
    assert unknown.exit_code == 1 and "No tenant named 'ghost'" in unknown.output
    monkeypatch.setenv("LLMAAS_CONSOLE_LOGIN_LINKS", "false")
    disabled = run.invoke(app, ["console", "login-link"])
    assert disabled.exit_code == 1 and "disabled" in disabled.output
