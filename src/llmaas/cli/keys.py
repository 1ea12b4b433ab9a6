"""`llmaas keys`: issue, list, update, rotate and revoke API keys."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from llmaas.auth import KeyLimits, KeyService
from llmaas.cli.common import (
    ConfigOption,
    audited,
    console,
    day,
    duration,
    euros,
    fail,
    opened_database,
    out,
    when,
)
from llmaas.errors import LlmaasError, NotFound
from llmaas.guardrails import Policy
from llmaas.storage.tables import MAX_RATE
from llmaas.tenancy.money import format_eur
from llmaas.tenancy.tenants import DEFAULT_TENANT

app = typer.Typer(help="Issue, list, update, rotate and revoke API keys.", no_args_is_help=True)


class GuardrailChoice(StrEnum):
    """A key's guardrail policy as `keys update` takes it: one of the policies, or its tier's again."""

    OFF = "off"
    FLAG = "flag"
    BLOCK = "block"
    INHERIT = "inherit"


@app.command("create")
def create(
    name: Annotated[str, typer.Option(help="What the key is for, e.g. the application's name.")],
    tenant: Annotated[str, typer.Option(help="The tenant the key belongs to.")] = DEFAULT_TENANT,
    models: Annotated[str | None, typer.Option(help="Comma-separated models the key may use.")] = None,
    rpm: Annotated[int | None, typer.Option(
        help="Requests per minute for this key.", min=1, max=MAX_RATE)] = None,
    tpm: Annotated[int | None, typer.Option(
        help="Tokens per minute for this key.", min=1, max=MAX_RATE)] = None,
    budget_eur: Annotated[str | None, typer.Option(help="Monthly budget of this key, in euros.")] = None,
    expires: Annotated[str | None, typer.Option(help="Last day of validity (YYYY-MM-DD, UTC).")] = None,
    guardrail: Annotated[Policy | None, typer.Option(
        help="Prompt-injection policy of this key (off, flag, block); default: its tier's.")] = None,
    config: ConfigOption = None,
) -> None:
    """Issue a new API key. The secret is shown once, alone on the last line.

    Example: llmaas keys create --tenant acme --name chatbot --models qwen2.5-coder-0.5b-instruct --rpm 60
    --guardrail block
    """
    limits = KeyLimits(requests_per_minute=rpm, tokens_per_minute=tpm, monthly_budget_nano=euros(budget_eur))
    expires_at = day(expires)
    given = {"models": models, "requests_per_minute": rpm, "tokens_per_minute": tpm,
             "monthly_budget_eur": budget_eur, "expires_at": expires, "guardrail": guardrail}
    with opened_database(config) as engine:
        try:
            # The target is the new key's public prefix, known once it is issued; never its secret.
            with audited(engine, "key.create", "key", "", tenant=tenant, name=name,
                         fields=sorted(field for field, value in given.items() if value is not None)) as row:
                issued = KeyService(engine).create(
                    name=name, tenant=tenant, limits=limits,
                    allowed_models=[m.strip() for m in models.split(",") if m.strip()] if models else None,
                    expires_at=None if expires_at is None else expires_at.replace(hour=23, minute=59,
                                                                                  second=59),
                    guardrail=guardrail,
                )
                row.target = issued.key.prefix
        except LlmaasError as error:
            raise fail(error) from None
    console.print(f"Created key [bold]{issued.key.prefix}[/bold] ({escape(issued.key.name)}, tenant "
                  f"{escape(issued.key.tenant)}). Store it now: it cannot be shown again.")
    print(issued.secret)


@app.command("list")
def list_keys(
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's keys.")] = None,
    config: ConfigOption = None,
) -> None:
    """List keys by their public prefix (secrets are never stored)."""
    table = Table("name", "tenant")
    table.add_column("models", overflow="fold")
    table.add_column("own limits")  # and its own guardrail policy, when it has one
    table.add_column("state")
    table.add_column("key", no_wrap=True)  # the one column people copy
    with opened_database(config) as engine:
        keys = KeyService(engine).list(tenant=tenant)
    for key in keys:
        limits = [f"{key.limits.requests_per_minute} rpm" if key.limits.requests_per_minute else "",
                  f"{key.limits.tokens_per_minute} tpm" if key.limits.tokens_per_minute else "",
                  f"{format_eur(key.limits.monthly_budget_nano)}/month"
                  if key.limits.monthly_budget_nano is not None else "",
                  f"guardrail {key.guardrail}" if key.guardrail is not None else ""]
        if key.revoked_at:
            state = f"revoked {when(key.revoked_at)}"
        elif key.expires_at:
            state = f"expires {when(key.expires_at)}"
        else:
            state = "active"
        table.add_row(escape(key.name), escape(key.tenant), escape(", ".join(key.allowed_models or ["all"])),
                      ", ".join(filter(None, limits)) or "tier's", state, key.prefix)
    out.print(table)


@app.command("update")
def update(
    prefix: str,
    guardrail: Annotated[GuardrailChoice, typer.Option(
        help="The key's prompt-injection policy: off, flag, block, or inherit (its tier's).")],
    config: ConfigOption = None,
) -> None:
    """Change an active key's own settings; gateways apply them within their key cache's lifetime.

    Example: llmaas keys update sk-llmaas-AbCd1234 --guardrail block
    """
    policy = None if guardrail is GuardrailChoice.INHERIT else Policy(guardrail.value)
    with opened_database(config) as engine:
        try:
            with audited(engine, "key.update", "key", prefix, fields=["guardrail"]):
                key = KeyService(engine).update(prefix, guardrail=policy)
        except LlmaasError as error:
            raise fail(error) from None
    console.print(f"Updated {prefix}: guardrail {key.guardrail or 'inherited from its tier'}.")


@app.command("revoke")
def revoke(prefix: str, config: ConfigOption = None) -> None:
    """Revoke a key by its prefix; gateways stop accepting it within their key cache's lifetime.

    Example: llmaas keys revoke sk-llmaas-AbCd1234
    """
    with opened_database(config) as engine:
        try:
            with audited(engine, "key.revoke", "key", prefix):
                if not KeyService(engine).revoke(prefix):
                    raise NotFound(f"No active key with prefix {prefix}.", param="prefix")
        except LlmaasError as error:
            raise fail(error) from None
    console.print(f"Revoked {prefix}.")


@app.command("rotate")
def rotate(
    prefix: str,
    grace: Annotated[str, typer.Option(help="How long the old secret works: 90s, 15m, 24h, 7d.")] = "24h",
    config: ConfigOption = None,
) -> None:
    """Issue a new secret for a key; the old one keeps working for the grace period.

    Example: llmaas keys rotate sk-llmaas-AbCd1234 --grace 7d
    """
    period = duration(grace)
    with opened_database(config) as engine:
        try:
            with audited(engine, "key.rotate", "key", prefix,
                         grace_seconds=int(period.total_seconds())) as row:
                issued = KeyService(engine).rotate(prefix, grace=period)
                row.details["new_prefix"] = issued.key.prefix
        except LlmaasError as error:
            raise fail(error) from None
    console.print(f"Rotated {prefix} to [bold]{issued.key.prefix}[/bold]; the old secret works for {grace}.")
    print(issued.secret)
