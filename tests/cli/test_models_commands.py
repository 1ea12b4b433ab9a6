"""The catalog commands as an operator types them, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from llmaas.catalog.store import OverrideStore
from llmaas.cli import app

MODEL = ('[[models]]\nid = "{id}"\nfamily = "f"\nowned_by = "o"\nlicense = "MIT"\n'
         'capabilities = ["chat"]\ncontext_length = 4096\nupstreams = [{{url = "http://vllm:8000/v1"}}]\n\n')


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database: Engine) -> CliRunner:
    catalog = tmp_path / "catalog.toml"
    catalog.write_text('[aliases]\ndefault = "small"\n\n' + MODEL.format(id="small")
                       + MODEL.format(id="large"))
    monkeypatch.setenv("LLMAAS_HOME", str(tmp_path))
    monkeypatch.setenv("LLMAAS_CATALOG_FILE", str(catalog))
    monkeypatch.setenv("LLMAAS_DATABASE_URL", database.url.render_as_string(hide_password=False))
    monkeypatch.setenv("COLUMNS", "250")
    return CliRunner()


def row(listing: str, model_id: str) -> str:
    return next(line for line in listing.splitlines() if f" {model_id} " in line)


def test_deprecate_writes_an_override_that_servers_pick_up(run: CliRunner, database: Engine) -> None:
    result = run.invoke(app, ["models", "deprecate", "small", "--retires-at", "2099-01-31",
                              "--successor", "large", "--on-retired", "redirect"])
    assert result.exit_code == 0, result.output
    assert "retires on 2099-01-31" in result.output and "within 5 s" in result.output
    today = datetime.now(UTC).date().isoformat()
    assert OverrideStore(database).load().models["small"].fields == {
        "deprecated_at": today, "retires_at": "2099-01-31", "successor": "large", "on_retired": "redirect"}
    assert OverrideStore(database).load().models["small"].updated_by.startswith("cli")

    listing = run.invoke(app, ["models", "list"]).stdout
    small = row(listing, "small")
    assert "deprecated*" in small and "2099-01-31*" in small and "large*" in small
    assert "deprecated_at, on_retired, retires_at, successor" in small
    assert "*" not in row(listing, "large") and "set by an override" in listing


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--retires-at", "2026-12-15", "--notice-date", "2026-12-01"], "2027-03-01 at the earliest"),
        (["--retires-at", "2099-01-31", "--successor", "ghost"], "unknown successor 'ghost'"),
        (["--retires-at", "2099-01-31", "--on-retired", "redirect"], "names no successor"),
        (["--retires-at", "2099-01-31", "--on-retired", "explode"], "refuse or redirect"),
        (["--retires-at", "soon"], "not a date"),
    ],
)
def test_a_refused_deprecation_writes_nothing(
    run: CliRunner, database: Engine, args: list[str], message: str
) -> None:
    result = run.invoke(app, ["models", "deprecate", "small", *args])
    assert result.exit_code != 0 and message in result.output
    assert OverrideStore(database).revision() == 0


def test_override_set_unset_and_clear(run: CliRunner, database: Engine) -> None:
    result = run.invoke(app, ["models", "override", "large", "--set", "max_output_tokens=2048",
                              "--set", "ip_indemnity=true", "--set", "description=Large model, tuned",
                              "--set", 'pricing={"input_per_million_tokens": 2.5}', "--set", 'license="2.0"'])
    assert result.exit_code == 0, result.output
    assert "pick this up" in result.output
    fields = OverrideStore(database).load().models["large"].fields
    assert fields == {"max_output_tokens": 2048, "ip_indemnity": True, "description": "Large model, tuned",
                      "pricing": {"input_per_million_tokens": 2.5}, "license": "2.0"}
    assert "2.0*" in row(run.invoke(app, ["models", "list"]).stdout, "large")

    assert run.invoke(app, ["models", "override", "large", "--unset", "license"]).exit_code == 0
    assert "license" not in OverrideStore(database).load().models["large"].fields
    assert run.invoke(app, ["models", "override", "large", "--clear"]).exit_code == 0
    assert OverrideStore(database).load().models == {}
    assert "*" not in run.invoke(app, ["models", "list"]).stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ghost", "--set", "description=x"], "`ghost` does not exist"),
        (["small", "--set", "nothing"], "not field=value"),
        (["small", "--set", "context_length=lots"], "valid integer"),
        (["small", "--set", "license=2.0"], "license: Input should be a valid string"),  # JSON: quote it
        (["small", "--set", "engine={}"], "cannot be overridden"),
        (["small", "--set", "colour=red"], "no field `colour`"),
        (["small", "--unset", "colour"], "no field `colour`"),
        (["small", "--clear"], "has no override"),
        (["small", "--clear", "--set", "license=x"], "--clear goes alone"),
        (["small"], "give --set"),
    ],
)
def test_a_refused_override_is_explained(
    run: CliRunner, database: Engine, args: list[str], message: str
) -> None:
    result = run.invoke(app, ["models", "override", *args])
    assert result.exit_code != 0 and message in result.output
    assert OverrideStore(database).revision() == 0


def test_aliases(run: CliRunner, database: Engine) -> None:
    assert run.invoke(app, ["models", "alias", "fast", "large"]).exit_code == 0
    assert run.invoke(app, ["models", "alias", "default", "--remove"]).exit_code == 0
    listing = run.invoke(app, ["models", "list"]).stdout
    assert "alias fast* → large" in listing and "default" not in listing
    for args, message in [(["x", "ghost"], "`ghost` does not exist"), (["large", "small"], "also a model id"),
                          (["default", "--remove"], "No alias named 'default'"),
                          (["x"], "either a MODEL or --remove"), (["x", "small", "--remove"], "either")]:
        result = run.invoke(app, ["models", "alias", *args])
        assert result.exit_code != 0 and message in result.output, (args, result.output)
    assert OverrideStore(database).revision() == 2


def test_list_without_overrides_shows_the_file(run: CliRunner) -> None:
    listing = run.invoke(app, ["models", "list"])
    assert listing.exit_code == 0, listing.output
    assert "small" in listing.stdout and "alias default → small" in listing.stdout
    assert "*" not in listing.stdout
