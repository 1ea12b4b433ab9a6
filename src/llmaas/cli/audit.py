"""`llmaas audit`: the administrative writes, listed, and their hash chain verified."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from llmaas.audit import AuditLog
from llmaas.cli.common import ConfigOption, console, day, opened_database, out, when

app = typer.Typer(help="The audit log of administrative writes: list it, verify its chain.",
                  no_args_is_help=True)


@app.command("list")
def list_entries(
    since: Annotated[str | None, typer.Option(help="Only rows from this day on (YYYY-MM-DD, UTC).")] = None,
    action: Annotated[str | None, typer.Option(
        help="One action (key.create) or a family of them (key, catalog.override).")] = None,
    actor: Annotated[str | None, typer.Option(help="One actor exactly: admin-token, cli:<login>.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many rows, the newest.", min=1)] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output, newest first.")] = False,
    config: ConfigOption = None,
) -> None:
    """Who changed what, from where, when, and how it ended; newest last.

    Example: llmaas audit list --since 2026-12-01 --action key --actor admin-token
    """
    with opened_database(config) as engine:
        entries = AuditLog(engine).entries(since=day(since), action=action, actor=actor, limit=limit)
    if as_json:
        print(json.dumps([{**vars(e), "created_at": e.created_at.isoformat()} for e in entries]))
        return
    table = Table("#", "when (UTC)", "actor", "from", "action", "target", "outcome", "details")
    for entry in reversed(entries):
        outcome = "ok" if entry.outcome == "ok" else f"[red]refused {entry.error_code or ''}[/red]"
        details = "; ".join(f"{name}: {', '.join(map(str, value)) if isinstance(value, list) else value}"
                            for name, value in sorted(entry.details.items()))
        table.add_row(str(entry.seq), when(entry.created_at), escape(entry.actor), escape(entry.source),
                      entry.action, escape(f"{entry.target_type} {entry.target}"), outcome, escape(details))
    out.print(table)


@app.command("verify")
def verify(config: ConfigOption = None) -> None:
    """Recompute the hash chain; exit 1 naming the first row edited, deleted or out of place.

    Example: llmaas audit verify
    """
    with opened_database(config) as engine:
        result = AuditLog(engine).verify()
    if not result.ok:
        where = f"row {result.bad_seq}" if result.bad_seq is not None else "the chain's head"
        console.print(f"[red]The audit log was tampered with at {where}: {result.reason} "
                      f"({result.rows} rows before it are intact).[/red]")
        raise typer.Exit(1)
    console.print(f"[green]The audit log is intact: {result.rows} rows.[/green]")
