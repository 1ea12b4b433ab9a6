"""The tenancy, key and usage commands as an operator types them, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from llmaas.cli import app
from llmaas.metering.ledger import Ledger, UsageRecord
from llmaas.storage.tables import ApiKeyRow, TenantRow


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database: Engine) -> CliRunner:
    monkeypatch.setenv("LLMAAS_HOME", str(tmp_path))
    monkeypatch.setenv("LLMAAS_DATABASE_URL", database.url.render_as_string(hide_password=False))
    monkeypatch.setenv("COLUMNS", "200")
    return CliRunner()


def test_tenant_key_and_listing(run: CliRunner) -> None:
    tenant = run.invoke(app, ["tenants", "create", "acme", "--tier", "standard", "--prepaid-eur", "500"])
    assert tenant.exit_code == 0
    created = run.invoke(app, ["keys", "create", "--tenant", "acme", "--name", "bot", "--rpm", "60",
                               "--budget-eur", "12.5", "--models", "a,b", "--expires", "2027-01-31"])
    assert created.exit_code == 0, created.output
    secret = created.stdout.strip().splitlines()[-1]
    assert secret.startswith("sk-llmaas-")
    listing = run.invoke(app, ["keys", "list", "--tenant", "acme"]).stdout
    assert "bot" in listing and "12.50 €" in listing and "a, b" in listing and secret[:18] in listing
    assert secret not in listing
    tenants = run.invoke(app, ["tenants", "list"]).stdout
    assert "acme" in tenants and "500.00 €" in tenants


def test_a_key_without_a_tenant_goes_to_the_default_tenant(run: CliRunner) -> None:
    created = run.invoke(app, ["keys", "create", "--name", "solo"])
    assert created.exit_code == 0
    assert "default" in run.invoke(app, ["keys", "list"]).stdout


def test_rotation_prints_a_new_secret(run: CliRunner) -> None:
    secret = run.invoke(app, ["keys", "create", "--name", "bot"]).stdout.strip().splitlines()[-1]
    rotated = run.invoke(app, ["keys", "rotate", secret[:18], "--grace", "1h"])
    assert rotated.exit_code == 0, rotated.output
    assert rotated.stdout.strip().splitlines()[-1] != secret


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["tenants", "create", "acme", "--tier", "platinum"], "No tier named 'platinum'"),
        (["keys", "create", "--name", "x", "--tenant", "ghost"], "No tenant named 'ghost'"),
        (["keys", "create", "--name", "x", "--budget-eur", "lots"], "not an amount"),
        (["keys", "create", "--name", "x", "--expires", "soon"], "not a date"),
        (["keys", "rotate", "sk-llmaas-nothing", "--grace", "forever"], "not a duration"),
        (["keys", "revoke", "sk-llmaas-nothing"], "No active key"),
        # Rate limits are 32-bit columns: PostgreSQL would refuse a larger one with a traceback.
        (["keys", "create", "--name", "x", "--rpm", str(2**31)], "--rpm"),
        (["tiers", "set", "standard", "--output-per-day", str(2**31)], "--output-per-day"),
        (["tenants", "update", "ghost", "--tier", "standard"], "No tenant named 'ghost'"),
        (["tenants", "update", "default"], "Nothing to change"),
        (["tenants", "update", "default", "--tier", "platinum"], "No tier named 'platinum'"),
        (["tenants", "update", "default", "--email-domains", "acme.com,not a domain"], "E-mail domains"),
        (["tenants", "update", "default", "--prepaid-eur", "lots"], "not an amount"),
        # Past what the database and the admin API's answers hold, or not a number at all.
        (["tenants", "update", "default", "--prepaid-eur", "9000000001"], "amounts are between"),
        (["tenants", "create", "x", "--tier", "standard", "--prepaid-eur", "Infinity"], "amounts are"),
        (["tiers", "set", "standard", "--cap-eur", "NaN"], "amounts are between"),
        (["keys", "create", "--name", "x", "--budget-eur", "-1"], "amounts are between"),
    ],
)
def test_mistakes_are_explained(run: CliRunner, args: list[str], message: str) -> None:
    result = run.invoke(app, args)
    assert result.exit_code != 0
    assert message in result.output


def test_a_tenant_can_be_changed(run: CliRunner, database: Engine) -> None:
    assert run.invoke(app, ["tenants", "create", "acme", "--tier", "standard"]).exit_code == 0
    moved = run.invoke(app, ["tenants", "update", "acme", "--tier", "business", "--prepaid-eur", "20",
                             "--email-domains", " Acme.com,@acme.fr,acme.com"])
    assert moved.exit_code == 0, moved.output
    assert "acme.com, acme.fr" in moved.output
    acme = next(line for line in run.invoke(app, ["tenants", "list"]).stdout.splitlines() if "acme" in line)
    assert "business" in acme and "20.00 €" in acme and "acme.com, acme.fr" in acme
    cleared = run.invoke(app, ["tenants", "update", "acme", "--email-domains", ""])
    assert cleared.exit_code == 0, cleared.output
    with Session(database) as session:
        row = session.scalar(select(TenantRow).where(TenantRow.name == "acme"))
        assert row is not None and row.prepaid_credit_nano == 20 * 10**9
    acme = next(line for line in run.invoke(app, ["tenants", "list"]).stdout.splitlines() if "acme" in line)
    assert "acme.fr" not in acme and "business" in acme


def test_tiers_can_be_changed(run: CliRunner) -> None:
    assert run.invoke(app, ["tiers", "set", "custom", "--rpm", "100", "--cap-eur", "50"]).exit_code == 0
    tiers = run.invoke(app, ["tiers", "list"]).stdout
    custom = next(line for line in tiers.splitlines() if "custom" in line)
    assert "50.00 €" in custom and "100" in custom


def record_usage(run: CliRunner, database: Engine) -> None:
    """One chat request by acme's key `bot`, in the ledger."""
    assert run.invoke(app, ["tenants", "create", "acme", "--tier", "standard"]).exit_code == 0
    assert run.invoke(app, ["keys", "create", "--tenant", "acme", "--name", "bot"]).exit_code == 0
    with Session(database) as session:
        tenant_id = session.scalar(select(TenantRow.id).where(TenantRow.name == "acme"))
        key_id = session.scalar(select(ApiKeyRow.id).where(ApiKeyRow.name == "bot"))
    assert tenant_id is not None and key_id is not None
    ledger = Ledger(database)
    ledger.record(UsageRecord(created_at=datetime.now(UTC), request_id="r", tenant_id=tenant_id,
                              key_id=key_id, endpoint="/v1/chat/completions", model_requested="m",
                              model_served="m", status=200, input_tokens=1000, output_tokens=500,
                              cost_nano=5_800_000))
    asyncio.run(ledger.flush())


def test_usage_shows_the_ledger(run: CliRunner, database: Engine) -> None:
    record_usage(run, database)
    table = run.invoke(app, ["usage", "--tenant", "acme"])
    assert table.exit_code == 0 and "1,000" in table.stdout and "0.01 €" in table.stdout
    assert run.invoke(app, ["usage", "--tenant", "ghost"]).exit_code == 1
    assert run.invoke(app, ["usage", "--group-by", "colour"]).exit_code != 0


def test_usage_as_json(run: CliRunner, database: Engine) -> None:
    record_usage(run, database)
    result = run.invoke(app, ["usage", "--json", "--group-by", "day"])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    data = json.loads(result.stdout)
    assert data[0]["output_tokens"] == 500 and data[0]["cost_eur"] == 0.0058


def test_names_are_shown_as_written_never_as_markup(run: CliRunner) -> None:
    # A tenant administrator names keys in the console: in the operator's terminal they stay text.
    tenant = "[link=https://evil.test]acme[/link]"
    assert run.invoke(app, ["tenants", "create", tenant, "--tier", "standard"]).exit_code == 0
    created = run.invoke(app, ["keys", "create", "--tenant", tenant, "--name", "x[/bold]",
                               "--models", "[red]m"])
    assert created.exit_code == 0, created.output
    assert "x[/bold]" in created.output
    listing = run.invoke(app, ["keys", "list"])
    assert listing.exit_code == 0, listing.output
    assert "x[/bold]" in listing.stdout and "[red]m" in listing.stdout
    assert "[link=https://evil.test]acme[/link]" in run.invoke(app, ["tenants", "list"]).stdout
