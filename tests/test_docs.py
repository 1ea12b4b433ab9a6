"""The docs keep up with the code: every setting and CLI command is documented."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from llmaas.cli import app
from llmaas.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def test_every_setting_is_documented() -> None:
    text = (ROOT / "docs" / "configuration.md").read_text()
    missing = [name for name in Settings.model_fields if f"`LLMAAS_{name.upper()}`" not in text]
    assert not missing, f"document these settings in docs/configuration.md: {missing}"


def test_every_command_has_help_with_a_description() -> None:
    runner = CliRunner()
    for command in (["serve"], ["setup"], ["keys", "create"], ["keys", "list"], ["keys", "revoke"],
                    ["keys", "rotate"], ["tenants", "create"], ["tenants", "list"], ["tiers", "list"],
                    ["tiers", "set"], ["models", "list"], ["models", "reload"], ["models", "deprecate"],
                    ["models", "override"], ["models", "alias"], ["usage"]):
        result = runner.invoke(app, [*command, "--help"])
        assert result.exit_code == 0, result.output
        assert "Usage" in result.output and len(result.output.splitlines()) > 4
