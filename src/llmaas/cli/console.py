"""`llmaas console`: break-glass access to the web console when an identity provider is down."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from llmaas.cli.common import ConfigOption, audited, console, opened_database
from llmaas.console import issue_login_link
from llmaas.errors import LlmaasError
from llmaas.settings import load_settings

app = typer.Typer(help="The web console under /console.", no_args_is_help=True)


@app.command("login-link")
def login_link(
    tenant: Annotated[str | None, typer.Option(
        help="Sign in as this tenant's admin, not the operator's.")] = None,
    config: ConfigOption = None,
) -> None:
    """Print a one-time link into the console, valid for minutes (console_login_link_minutes): for when
    the identity provider is down. Disabled with console_login_links = false. Audited.

    Example: llmaas console login-link --tenant acme
    """
    settings = load_settings(config)
    with opened_database(config) as engine:
        try:
            with audited(engine, "console.login_link", "tenant" if tenant else "operator", tenant or ""):
                link = issue_login_link(settings, engine, tenant=tenant)
        except LlmaasError as error:
            console.print(f"[red]{escape(error.message)}[/red]")
            raise typer.Exit(1) from None
    console.print(f"Valid {settings.console_login_link_minutes:g} minutes, once:")
    print(link)
