"""The docs keep up with the code: every setting and CLI command is documented."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import cast

import typer
from typer.core import TyperGroup
from typer.testing import CliRunner

from llmaas.cli import app
from llmaas.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def test_every_setting_is_documented() -> None:
    text = (ROOT / "docs" / "configuration.md").read_text()
    missing = [name for name in Settings.model_fields if f"`LLMAAS_{name.upper()}`" not in text]
    assert not missing, f"document these settings in docs/configuration.md: {missing}"


def _commands(group: TyperGroup, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every runnable command of the typer app, as the words a user types."""
    for name, command in group.commands.items():
        if isinstance(command, TyperGroup):
            yield from _commands(command, (*prefix, name))
        else:
            yield (*prefix, name)


def test_every_command_has_help_with_a_description() -> None:
    commands = list(_commands(cast(TyperGroup, typer.main.get_command(app))))
    assert ("serve",) in commands and ("keys", "create") in commands and ("models", "alias") in commands
    runner = CliRunner()
    for command in commands:
        result = runner.invoke(app, [*command, "--help"])
        assert result.exit_code == 0, result.output
        assert "Usage" in result.output and len(result.output.splitlines()) > 4, command
