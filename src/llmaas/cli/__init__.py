"""The `llmaas` command: run the platform and manage it.

    llmaas serve                        set up and run the platform on 127.0.0.1:8000
    llmaas tenants create acme --tier standard
    llmaas keys create --tenant acme --name my-app    issue an API key (printed once, last line)
    llmaas models list                  the catalog
"""

from __future__ import annotations

import logging
import os
import signal
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from llmaas.catalog import lifecycle, load_catalog
from llmaas.cli import keys, tenancy, usage
from llmaas.cli.common import ConfigOption, console
from llmaas.settings import load_settings

app = typer.Typer(help="llmaas: a sovereign LLM-as-a-Service platform.", no_args_is_help=True)
models_app = typer.Typer(help="The model catalog.", no_args_is_help=True)
app.add_typer(keys.app, name="keys")
app.add_typer(tenancy.tenants_app, name="tenants")
app.add_typer(tenancy.tiers_app, name="tiers")
app.add_typer(models_app, name="models")
app.command("usage")(usage.usage)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    config: ConfigOption = None,
    catalog_file: Annotated[
        Path | None, typer.Option("--catalog", help="Model catalog (TOML) instead of the bundled one.")
    ] = None,
    embedded: Annotated[
        bool, typer.Option(help="Start the embedded engines; --no-embedded runs the gateway alone.")
    ] = True,
) -> None:
    """Set up what is missing, start the engines and the gateway, and serve until stopped.

    Example: llmaas serve --port 8080
    """
    from llmaas.server import run  # imports the web stack only for this command

    settings = load_settings(
        config, host=host, port=port, catalog_file=catalog_file, embedded=None if embedded else False
    )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    run(settings, console)


@app.command()
def setup(config: ConfigOption = None) -> None:
    """Build the embedded engine and fetch the bundled models, without serving."""
    from llmaas.engines.launch import prepare

    settings = load_settings(config)
    prepare(settings, load_catalog(settings.catalog_file), console)
    console.print("[green]Engines and models are ready.[/green]")


@models_app.command("list")
def models_list(config: ConfigOption = None) -> None:
    """Show the catalog: capabilities, context, licence, lifecycle dates and how each model is served."""
    settings = load_settings(config)
    catalog = load_catalog(settings.catalog_file, notice_months=settings.deprecation_notice_months)
    today = datetime.now(UTC).date()
    table = Table("id", "capabilities", "context", "license", "status", "retires", "successor", "served by")
    for entry in catalog:
        served = f"embedded {entry.engine.kind}" if entry.engine else ", ".join(
            upstream.url for upstream in entry.upstreams
        )
        state = lifecycle.status(entry, today)
        colour = {"deprecated": "yellow", "retired": "red"}.get(state, "green")
        table.add_row(entry.id, ", ".join(entry.capabilities), str(entry.context_length), entry.license,
                      f"[{colour}]{state}[/{colour}]", str(entry.retires_at or ""), entry.successor or "",
                      served)
    Console().print(table)
    for alias, target in sorted(catalog.aliases.items()):
        Console().print(f"alias [bold]{alias}[/bold] → {target}")


@models_app.command("reload")
def models_reload(config: ConfigOption = None) -> None:
    """Make the running `llmaas serve` read its catalog file again, without a restart (SIGHUP).

    In-flight requests finish on the catalog they started with. An invalid file is refused and
    logged by the server, which keeps the catalog it had.
    """
    from llmaas.server import pid_file

    path = pid_file(load_settings(config))
    try:
        os.kill(int(path.read_text()), signal.SIGHUP)
    except (OSError, ValueError):
        console.print(f"[red]No running llmaas serve found ({path}).[/red]")
        raise typer.Exit(1) from None
    console.print("Asked the server to reload its catalog; its log says how it went.")
