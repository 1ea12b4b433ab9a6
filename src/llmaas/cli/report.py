"""`llmaas sovereignty-report`: the platform's promises, checked against this deployment."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from llmaas.catalog.catalog import CatalogError
from llmaas.cli.common import ConfigOption, fail, opened_database, out
from llmaas.settings import load_settings

_COLOURS = {"ok": "green", "warning": "yellow", "broken": "red"}


def sovereignty_report(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object, for scripts.")] = False,
    config: ConfigOption = None,
) -> None:
    """What an auditor asks: TLS, plaintext listeners, every upstream host (egress), key hashing,
    guardrails per tier, logs, ledger retention, core dumps, database and Redis TLS, the audit chain.
    Exits 1 when a promise is broken; warnings leave it at 0. No secret is printed.

    Example: llmaas sovereignty-report --json
    """
    from llmaas.sovereignty import sovereignty_findings  # imports the server's module: only for this command

    settings = load_settings(config)
    with opened_database(config) as engine:
        try:
            findings = sovereignty_findings(settings, engine)
        except CatalogError as error:
            raise fail(error) from None
    broken = [finding.promise for finding in findings if finding.status == "broken"]
    if as_json:
        print(json.dumps({"ok": not broken, "broken": broken,
                          "findings": [finding.as_dict() for finding in findings]}, indent=2))
    else:
        table = Table("promise", "state", "detail", "", title="Sovereignty report")
        for finding in findings:
            colour = _COLOURS[finding.status]
            table.add_row(escape(finding.promise), escape(finding.state), escape(finding.detail),
                          f"[{colour}]{finding.status}[/{colour}]")
        out.print(table)
        if broken:
            out.print(f"[red]Broken: {escape(', '.join(broken))}[/red]")
    if broken:
        raise typer.Exit(1)
