"""The `llmaas` command: run the platform and manage it.

    llmaas serve                        set up and run the platform on 127.0.0.1:8000
    llmaas keys create --name my-app    issue an API key (printed once, alone on the last line)
    llmaas models list                  the catalog
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from llmaas.auth import KeyService
from llmaas.catalog import load_catalog
from llmaas.settings import Settings, load_settings
from llmaas.storage.database import create_database_engine, migrate

app = typer.Typer(help="llmaas: a sovereign LLM-as-a-Service platform.", no_args_is_help=True)
keys_app = typer.Typer(help="Issue and revoke API keys.", no_args_is_help=True)
models_app = typer.Typer(help="The model catalog.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(models_app, name="models")

console = Console(stderr=True)

ConfigOption = Annotated[
    Path | None, typer.Option("--config", help="Settings file (TOML); LLMAAS_* variables override it.")
]


def _key_service(settings: Settings) -> KeyService:
    database = create_database_engine(settings.resolved_database_url)
    migrate(database)
    return KeyService(database)


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


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option(help="What the key is for, e.g. the application's name.")],
    config: ConfigOption = None,
) -> None:
    """Issue a new API key. The secret is shown once, alone on the last line.

    Example: llmaas keys create --name chatbot
    """
    issued = _key_service(load_settings(config)).create(name=name)
    console.print(f"Created key [bold]{issued.key.prefix}[/bold] ({issued.key.name}). "
                  "Store it now: it cannot be shown again.")
    print(issued.secret)


@keys_app.command("list")
def keys_list(config: ConfigOption = None) -> None:
    """List keys by their public prefix (secrets are never stored)."""
    table = Table("prefix", "name", "created", "revoked")
    for key in _key_service(load_settings(config)).list():
        revoked = key.revoked_at.strftime("%Y-%m-%d %H:%M") if key.revoked_at else ""
        table.add_row(key.prefix, key.name, key.created_at.strftime("%Y-%m-%d %H:%M"), revoked)
    Console().print(table)


@keys_app.command("revoke")
def keys_revoke(prefix: str, config: ConfigOption = None) -> None:
    """Revoke a key by its prefix; requests with it fail within the key cache's lifetime (30 s).

    Example: llmaas keys revoke sk-llmaas-AbCd1234
    """
    if not _key_service(load_settings(config)).revoke(prefix):
        console.print(f"[red]No active key with prefix {prefix}.[/red]")
        raise typer.Exit(1)
    console.print(f"Revoked {prefix}.")


@models_app.command("list")
def models_list(config: ConfigOption = None) -> None:
    """Show the catalog: capabilities, context length, licence and how each model is served."""
    settings = load_settings(config)
    table = Table("id", "family", "capabilities", "context", "license", "served by")
    for entry in load_catalog(settings.catalog_file):
        served = f"embedded {entry.engine.kind}" if entry.engine else ", ".join(
            upstream.url for upstream in entry.upstreams
        )
        table.add_row(entry.id, entry.family, ", ".join(entry.capabilities),
                      str(entry.context_length), entry.license, served)
    Console().print(table)
