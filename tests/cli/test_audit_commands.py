"""The audit log from the command line: each CLI write leaves one row by `cli:<login>` from `local`,
`llmaas audit list` filters it and `llmaas audit verify` catches an edited or deleted row; on SQLite
and PostgreSQL."""

from __future__ import annotations

import getpass
import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
from sqlalchemy import Engine, delete, update
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from llmaas.audit import AuditLog
from llmaas.auth import KeyService
from llmaas.cli import app
from llmaas.server import pid_file
from llmaas.settings import load_settings
from llmaas.storage.tables import AuditRow

MODEL = ('[[models]]\nid = "{id}"\nfamily = "f"\nowned_by = "o"\nlicense = "MIT"\n'
         'capabilities = ["chat"]\ncontext_length = 4096\nupstreams = [{{url = "http://vllm:8000/v1"}}]\n\n')


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database: Engine) -> CliRunner:
    catalog = tmp_path / "catalog.toml"
    catalog.write_text(MODEL.format(id="small") + MODEL.format(id="large"))
    monkeypatch.setenv("LLMAAS_HOME", str(tmp_path))
    monkeypatch.setenv("LLMAAS_CATALOG_FILE", str(catalog))
    monkeypatch.setenv("LLMAAS_DATABASE_URL", database.url.render_as_string(hide_password=False))
    monkeypatch.setenv("COLUMNS", "250")
    return CliRunner()


@pytest.fixture
def sighup() -> Iterator[list[int]]:
    """This process as the running server: its pid file, and SIGHUPs counted instead of obeyed."""
    received: list[int] = []

    def count(number: int, _frame: FrameType | None) -> None:
        received.append(number)

    previous = signal.signal(signal.SIGHUP, count)
    try:
        yield received
    finally:
        signal.signal(signal.SIGHUP, previous)


def _invoke(run: CliRunner, database: Engine, *args: str) -> tuple[str, Any]:
    """Run one command; return its stdout and the one audit row it left."""
    before = len(AuditLog(database).entries())
    result = run.invoke(app, list(args))
    entries = AuditLog(database).entries()
    assert len(entries) == before + 1, (args, result.output)
    return result.stdout, entries[0]


def test_every_cli_write_leaves_one_row(run: CliRunner, database: Engine, sighup: list[int]) -> None:
    _, row = _invoke(run, database, "tenants", "create", "acme", "--tier", "standard", "--prepaid-eur", "5")
    assert (row.actor, row.source, row.outcome, row.error_code) == (f"cli:{getpass.getuser()}", "local",
                                                                    "ok", None)
    assert (row.action, row.target_type, row.target, row.details) == (
        "tenant.create", "tenant", "acme", {"fields": ["tier", "prepaid_credit_eur"]})
    _, row = _invoke(run, database, "tenants", "update", "acme", "--tier", "business",
                     "--email-domains", "acme.com")
    assert (row.action, row.target, row.details) == (
        "tenant.update", "acme", {"fields": ["email_domains", "tier"]})
    _, row = _invoke(run, database, "tiers", "set", "standard", "--rpm", "10", "--cap-eur", "9",
                     "--guardrail", "block")
    assert (row.action, row.target, row.details) == (
        "tier.update", "standard", {"fields": ["guardrail", "monthly_cap_eur", "requests_per_minute"]})

    out, row = _invoke(run, database, "keys", "create", "--tenant", "acme", "--name", "bot", "--rpm", "5")
    secret = out.strip().splitlines()[-1]
    assert (row.action, row.target, row.details) == (
        "key.create", secret[:18], {"tenant": "acme", "name": "bot", "fields": ["requests_per_minute"]})
    out, row = _invoke(run, database, "keys", "update", secret[:18], "--guardrail", "block")
    assert (row.action, row.target, row.outcome, row.details) == (
        "key.update", secret[:18], "ok", {"fields": ["guardrail"]})
    [key] = KeyService(database).list(tenant="acme")
    assert key.guardrail == "block"
    _invoke(run, database, "keys", "update", secret[:18], "--guardrail", "inherit")
    [key] = KeyService(database).list(tenant="acme")
    assert key.guardrail is None, "inherit: the tier's policy again"
    out, row = _invoke(run, database, "keys", "rotate", secret[:18], "--grace", "1h")
    new_secret = out.strip().splitlines()[-1]
    assert (row.action, row.target, row.details) == (
        "key.rotate", secret[:18], {"grace_seconds": 3600, "new_prefix": new_secret[:18]})
    _, row = _invoke(run, database, "keys", "revoke", new_secret[:18])
    assert (row.action, row.target, row.outcome) == ("key.revoke", new_secret[:18], "ok")

    _, row = _invoke(run, database, "models", "override", "small", "--set", "description=Fast",
                     "--set", 'upstreams=[{"url": "http://b/v1", "api_key": "sk-upstream-secret"}]')
    assert (row.action, row.target_type, row.target, row.details) == (
        "catalog.override.update", "model", "small", {"fields": ["description", "upstreams"]})
    _, row = _invoke(run, database, "models", "deprecate", "small", "--retires-at", "2099-01-31")
    assert (row.action, row.details) == (
        "catalog.override.update", {"fields": ["deprecated_at", "retires_at"]})
    _, row = _invoke(run, database, "models", "override", "small", "--unset", "retires_at")
    assert row.details == {"fields": [], "unset": ["retires_at"]}
    _, row = _invoke(run, database, "models", "override", "small", "--clear")
    assert (row.action, row.target, row.details) == ("catalog.override.clear", "small", {})
    _, row = _invoke(run, database, "models", "alias", "fast", "large")
    assert (row.action, row.target, row.details) == ("catalog.alias.set", "fast", {"model": "large"})
    _, row = _invoke(run, database, "models", "alias", "fast", "--remove")
    assert (row.action, row.target) == ("catalog.alias.remove", "fast")

    pid_file(load_settings(None)).write_text(str(os.getpid()))
    _, row = _invoke(run, database, "models", "reload")
    assert (row.action, row.outcome, row.details) == ("catalog.reload", "ok", {"signal": "SIGHUP"})
    _, row = _invoke(run, database, "tls", "reload")
    assert (row.action, row.outcome) == ("tls.reload", "ok")
    assert sighup == [signal.SIGHUP, signal.SIGHUP]

    stored = json.dumps([vars(e) for e in AuditLog(database).entries()], default=str)
    for never in (secret, new_secret, "sk-upstream-secret"):
        assert never not in stored
    assert AuditLog(database).verify().ok


def test_refused_cli_writes_are_recorded(run: CliRunner, database: Engine) -> None:
    _, row = _invoke(run, database, "tenants", "create", "acme", "--tier", "platinum")
    assert (row.action, row.outcome, row.error_code) == ("tenant.create", "refused", "not_found")
    _, row = _invoke(run, database, "keys", "revoke", "sk-llmaas-nothing0")
    assert (row.action, row.outcome, row.error_code) == ("key.revoke", "refused", "not_found")
    _, row = _invoke(run, database, "keys", "update", "sk-llmaas-nothing0", "--guardrail", "off")
    assert (row.action, row.outcome, row.error_code) == ("key.update", "refused", "not_found")
    _, row = _invoke(run, database, "models", "override", "small", "--set", "context_length=-1")
    assert (row.outcome, row.error_code) == ("refused", "invalid_request")
    _, row = _invoke(run, database, "models", "reload")  # no server runs
    assert (row.action, row.outcome, row.error_code) == ("catalog.reload", "refused", "no_server")


def test_list_filters_and_json(run: CliRunner, database: Engine) -> None:
    run.invoke(app, ["tenants", "create", "acme", "--tier", "standard"])
    secret = run.invoke(app, ["keys", "create", "--name", "bot"]).stdout.strip().splitlines()[-1]
    run.invoke(app, ["keys", "revoke", secret[:18]])
    table = run.invoke(app, ["audit", "list"])
    assert table.exit_code == 0, table.output
    lines = table.stdout.splitlines()
    first = next(i for i, line in enumerate(lines) if "tenant.create" in line)
    last = next(i for i, line in enumerate(lines) if "key.revoke" in line)
    assert first < last and "local" in table.stdout and secret not in table.stdout  # oldest first

    def listed(*args: str) -> list[str]:
        result = run.invoke(app, ["audit", "list", "--json", *args])
        assert result.exit_code == 0, result.output
        return [row["action"] for row in json.loads(result.stdout)]

    assert listed() == ["key.revoke", "key.create", "tenant.create"]
    assert listed("--action", "key") == ["key.revoke", "key.create"]
    assert listed("--actor", f"cli:{getpass.getuser()}", "--limit", "1") == ["key.revoke"]
    assert listed("--actor", "admin-token") == []
    assert listed("--since", "2999-01-01") == []
    assert len(listed("--since", "2000-01-01")) == 3


def test_verify_catches_an_edited_or_deleted_row(run: CliRunner, database: Engine) -> None:
    for name in ("a", "b", "c", "d"):
        run.invoke(app, ["tenants", "create", name, "--tier", "standard"])
    intact = run.invoke(app, ["audit", "verify"])
    assert intact.exit_code == 0 and "intact: 4 rows" in intact.output

    with Session(database) as session, session.begin():
        session.execute(update(AuditRow).where(AuditRow.seq == 3).values(target="someone-else"))
    edited = run.invoke(app, ["audit", "verify"])
    assert edited.exit_code == 1 and "row 3" in edited.output and "hash" in edited.output

    with Session(database) as session, session.begin():
        session.execute(delete(AuditRow).where(AuditRow.seq == 2))
    deleted = run.invoke(app, ["audit", "verify"])
    assert deleted.exit_code == 1 and "row 2" in deleted.output and "missing" in deleted.output
