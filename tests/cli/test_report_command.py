"""`llmaas sovereignty-report` from the command line: a local setup keeps every promise, a plain-HTTP
upstream beyond loopback or an edited audit row breaks one (exit 1), and no secret is ever printed;
on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Engine, update
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from llmaas.cli import app
from llmaas.storage.tables import AuditRow

ADMIN_TOKEN = "admin-0123456789abcdefghijklmnopqrstuvwxyz"
UPSTREAM_KEY = "upstream-key-9f8e7d6c5b4a"
PROMISES = ["TLS in force", "Plaintext listener", "Egress: remote images", "API keys hashed",
            "Guardrail policy per tier", "Logs", "Usage ledger retention", "Core dumps", "Database", "Redis",
            "Audit chain"]


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database: Engine) -> CliRunner:
    monkeypatch.setenv("LLMAAS_HOME", str(tmp_path))
    monkeypatch.setenv("LLMAAS_DATABASE_URL", database.url.render_as_string(hide_password=False))
    monkeypatch.setenv("LLMAAS_ADMIN_TOKEN", ADMIN_TOKEN)
    monkeypatch.setenv("COLUMNS", "250")
    return CliRunner()


def _catalog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *urls: str) -> None:
    catalog = tmp_path / "catalog.toml"
    catalog.write_text("".join(  # each model with an api_key, which the report must never print
        f'[[models]]\nid = "m{number}"\nfamily = "f"\nowned_by = "o"\nlicense = "MIT"\n'
        f'capabilities = ["chat"]\ncontext_length = 4096\n'
        f'upstreams = [{{url = "{url}", api_key = "{UPSTREAM_KEY}"}}]\n\n'
        for number, url in enumerate(urls)))
    monkeypatch.setenv("LLMAAS_CATALOG_FILE", str(catalog))


def _report(run: CliRunner) -> tuple[int, dict[str, dict[str, str]]]:
    result = run.invoke(app, ["sovereignty-report", "--json"])
    report = json.loads(result.stdout)
    assert report["ok"] is (result.exit_code == 0)
    return result.exit_code, {finding["promise"]: finding for finding in report["findings"]}


def test_a_local_setup_keeps_every_promise(run: CliRunner, database: Engine) -> None:
    code, findings = _report(run)
    assert code == 0
    assert all(promise in findings for promise in PROMISES)
    assert {finding["status"] for finding in findings.values()} == {"ok"}
    assert findings["TLS in force"]["detail"].find("TLS 1.3") >= 0
    assert findings["Egress: embedded engines"]["state"] == "loopback only"
    assert findings["API keys hashed"]["state"] == "sha256"

    table = run.invoke(app, ["sovereignty-report"])
    assert table.exit_code == 0 and "Sovereignty report" in table.stdout and "Audit chain" in table.stdout


def test_a_plain_http_upstream_beyond_loopback_is_broken(
    run: CliRunner, database: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _catalog(tmp_path, monkeypatch, "http://vllm.internal:8000/v1", "https://gpu.example:8443/v1",
             "http://127.0.0.1:9000/v1")
    code, findings = _report(run)
    assert code == 1
    assert findings["Egress: m0"]["status"] == "broken"
    assert findings["Egress: m0"]["state"] == "http://vllm.internal:8000"
    assert findings["Egress: m1"] == {"promise": "Egress: m1", "state": "https://gpu.example:8443",
                                      "detail": "gpu.example:8443 verified by system CAs", "status": "ok"}
    assert findings["Egress: m2"]["status"] == "ok"

    table = run.invoke(app, ["sovereignty-report"])
    assert table.exit_code == 1 and "Broken: Egress: m0" in table.stdout


def test_an_edited_audit_row_is_broken(run: CliRunner, database: Engine) -> None:
    for name in ("a", "b", "c"):
        assert run.invoke(app, ["tenants", "create", name, "--tier", "standard"]).exit_code == 0
    assert _report(run)[1]["Audit chain"]["detail"].startswith("3 rows")
    with Session(database) as session, session.begin():
        session.execute(update(AuditRow).where(AuditRow.seq == 2).values(target="someone-else"))
    code, findings = _report(run)
    assert code == 1
    assert findings["Audit chain"]["state"] == "tampered at row 2"
    assert findings["Audit chain"]["status"] == "broken"


def test_no_secret_is_printed(
    run: CliRunner, database: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _catalog(tmp_path, monkeypatch, "https://user:url-password-77@gpu.example/v1")
    monkeypatch.setenv("LLMAAS_REDIS_URL", "redis://:redis-password-55@cache.internal:6379/0")
    password = database.url.password
    for args in (["sovereignty-report"], ["sovereignty-report", "--json"]):
        result = run.invoke(app, args)
        printed = result.stdout + result.stderr
        assert "Redis" in printed
        for secret in (ADMIN_TOKEN, UPSTREAM_KEY, "url-password-77", "redis-password-55"):
            assert secret not in printed
        if password:
            assert str(password) not in printed
