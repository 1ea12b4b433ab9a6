"""What every command shares: settings, the database, and rich output."""

from __future__ import annotations

import getpass
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from sqlalchemy import Engine

from llmaas.audit import LOCAL, AuditLog, Draft
from llmaas.errors import LlmaasError, NotFound
from llmaas.settings import load_settings
from llmaas.storage.database import create_database_engine, migrate
from llmaas.tenancy.money import MAX_EUROS, to_nano

console = Console(stderr=True)  # tables and messages; stdout is kept for what scripts read (a new key)
out = Console()

ConfigOption = Annotated[
    Path | None, typer.Option("--config", help="Settings file (TOML); LLMAAS_* variables override it.")
]


@contextmanager
def opened_database(config: Path | None) -> Iterator[Engine]:
    """The migrated database for one command; its connections are closed when the command is done.

        with opened_database(config) as engine:
            tenants = TenantService(engine).list()
    """
    engine = create_database_engine(load_settings(config).resolved_database_url)
    try:
        migrate(engine)
        yield engine
    finally:
        engine.dispose()


def actor() -> str:
    """Who runs the command, as the audit log and the catalog overrides name them: `cli:<login>`."""
    try:
        return f"cli:{getpass.getuser()}"
    except (OSError, KeyError):  # no login name in some containers
        return "cli"


@contextmanager
def audited(engine: Engine, action: str, target_type: str, target: str, **details: Any) -> Iterator[Draft]:
    """Record the write run in the block in the audit log: by `cli:<login>`, from `local`; refused
    when the block raises a platform error or a ValueError. Field names in `details`, never values.

        with audited(engine, "tenant.create", "tenant", name, fields=["tier"]):
            TenantService(engine).create(name=name, tier=tier)
    """
    with AuditLog(engine).writing(Draft(actor(), LOCAL, action, target_type, target, details)) as draft:
        yield draft


def signal_reload(config: Path | None, *, action: str, target_type: str) -> None:
    """Send SIGHUP to the running `llmaas serve`: it reloads its catalog and its TLS certificate. The
    request is audited as `action`; the server's log says how the reload went."""
    from llmaas.server import pid_file  # the web stack, only for the commands that need it

    path = pid_file(load_settings(config))
    with opened_database(config) as engine:
        try:
            with audited(engine, action, target_type, target_type, signal="SIGHUP"):
                try:
                    os.kill(int(path.read_text()), signal.SIGHUP)
                except (OSError, ValueError):
                    raise NotFound(f"No running llmaas serve found ({path}).", code="no_server") from None
        except LlmaasError as error:
            raise fail(error) from None


def fail(error: LlmaasError | ValueError) -> typer.Exit:
    console.print(f"[red]{escape(str(getattr(error, 'message', error)))}[/red]")
    return typer.Exit(1)


def euros(value: str | None) -> int | None:
    """An amount in euros from the command line, as nano-euros."""
    if value is None:
        return None
    try:
        amount = Decimal(value)
    except InvalidOperation:
        raise typer.BadParameter(f"{value!r} is not an amount in euros") from None
    if not amount.is_finite() or not 0 <= amount <= MAX_EUROS:
        raise typer.BadParameter(f"amounts are between 0 and {MAX_EUROS:,} euros")
    return to_nano(amount)


def day(value: str | None) -> datetime | None:
    """A date (YYYY-MM-DD) as the start of that day in UTC."""
    if value is None:
        return None
    try:
        parsed = date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date like 2026-12-31") from None
    return datetime(parsed.year, parsed.month, parsed.day, tzinfo=UTC)


def duration(value: str) -> timedelta:
    """`90s`, `15m`, `24h` or `7d`."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    if len(value) < 2 or value[-1] not in units or not value[:-1].isdigit():
        raise typer.BadParameter(f"{value!r} is not a duration like 24h or 7d")
    return timedelta(seconds=int(value[:-1]) * units[value[-1]])


def when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment else ""
