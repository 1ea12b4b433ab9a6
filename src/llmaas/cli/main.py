"""The `llmaas` command's root: `serve`, `setup`, and the command groups of the modules beside it.

    llmaas serve                        set up and run the platform on 127.0.0.1:8000
    llmaas serve --host 0.0.0.0 --tls-cert cert.pem --tls-key key.pem      HTTPS, TLS 1.3 only
    llmaas serve --workers 4            4 gateway processes on one port (needs LLMAAS_REDIS_URL)
    llmaas tenants create acme --tier standard
    llmaas keys create --tenant acme --name my-app    issue an API key (printed once, last line)
    llmaas models list                  the catalog, with the operator's overrides
    llmaas models deprecate mistral-small --retires-at 2027-06-30 --successor mistral-medium
    llmaas audit verify                 check that no administrative write was edited or deleted
    llmaas console login-link           a one-time link into the web console (break-glass)
    llmaas sovereignty-report           the platform's promises checked; exit 1 when one is broken
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from llmaas.catalog import load_catalog
from llmaas.catalog.catalog import CatalogError
from llmaas.cli import audit, keys, models, report, tenancy, tls, usage
from llmaas.cli import console as console_commands
from llmaas.cli.common import ConfigOption, console
from llmaas.errors import TLSConfigError
from llmaas.observability.logs import configure_logging
from llmaas.settings import load_settings
from llmaas.storage.database import private_home

app = typer.Typer(help="llmaas: a sovereign LLM-as-a-Service platform.", no_args_is_help=True)
app.add_typer(keys.app, name="keys")
app.add_typer(tenancy.tenants_app, name="tenants")
app.add_typer(tenancy.tiers_app, name="tiers")
app.add_typer(models.app, name="models")
app.add_typer(tls.app, name="tls")
app.add_typer(audit.app, name="audit")
app.add_typer(console_commands.app, name="console")
app.command("usage")(usage.usage)
app.command("sovereignty-report")(report.sovereignty_report)


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
    tls_cert: Annotated[
        Path | None, typer.Option("--tls-cert", help="PEM certificate chain: serve HTTPS, TLS 1.3 only.")
    ] = None,
    tls_key: Annotated[Path | None, typer.Option("--tls-key", help="PEM private key of --tls-cert.")] = None,
    behind_tls_proxy: Annotated[
        bool, typer.Option("--behind-tls-proxy", help="A proxy in front terminates TLS: allow plain HTTP "
                           "beyond loopback, and trust its forwarding headers (setting trusted_proxies).")
    ] = False,
    workers: Annotated[
        int | None, typer.Option(min=1, help="Gateway processes on the one port, one core each; more "
                                 "than one needs Redis (setting redis_url) for limits and budgets.")
    ] = None,
) -> None:
    """Set up what is missing, start the engines and the gateway, and serve until stopped.

    Beyond loopback it serves HTTPS (--tls-cert, --tls-key) or, with --behind-tls-proxy, plain HTTP
    to a TLS-terminating proxy; SIGHUP (`llmaas tls reload`) reloads the certificate.

    Example: llmaas serve --port 8080; llmaas serve --workers 2 --no-embedded
    """
    from llmaas.server import run  # imports the web stack only for this command

    settings = load_settings(
        config, host=host, port=port, catalog_file=catalog_file, embedded=None if embedded else False,
        tls_cert_file=tls_cert, tls_key_file=tls_key, behind_tls_proxy=behind_tls_proxy or None,
        workers=workers,
    )
    if problem := settings.admin_token_problem or settings.workers_problem:
        console.print(f"[red]Not started: {escape(problem)}[/red]", soft_wrap=True)
        raise typer.Exit(1)
    umask = os.umask(0o077)  # what the platform writes (pid file, database, its WAL) is its user's only
    private_home(settings.home)
    configure_logging(settings.log_level)
    try:
        run(settings, console)
    except (CatalogError, TLSConfigError) as error:  # raised before any engine starts: say why, not where
        console.print(f"[red]Not started: {escape(str(error))}[/red]", soft_wrap=True)
        raise typer.Exit(1) from None
    finally:
        os.umask(umask)  # for a caller in the same process (the tests)


@app.command()
def setup(config: ConfigOption = None) -> None:
    """Build the embedded engine and fetch the bundled models, without serving."""
    from llmaas.engines.launch import prepare

    settings = load_settings(config)
    prepare(settings, load_catalog(settings.catalog_file), console)
    console.print("[green]Engines and models are ready.[/green]")
