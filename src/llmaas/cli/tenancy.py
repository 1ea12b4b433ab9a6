"""`llmaas tenants` and `llmaas tiers`: customer organisations and their plans."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from llmaas.cli.common import ConfigOption, audited, console, euros, fail, opened_database, out, when
from llmaas.errors import LlmaasError
from llmaas.guardrails import Policy
from llmaas.storage.tables import MAX_RATE
from llmaas.tenancy import TenantService, TierService
from llmaas.tenancy.money import format_eur
from llmaas.tenancy.tenants import clean_email_domains

tenants_app = typer.Typer(help="Customer organisations.", no_args_is_help=True)
tiers_app = typer.Typer(help="Plans: spending caps and throughput limits.", no_args_is_help=True)


@tenants_app.command("create")
def create_tenant(
    name: str,
    tier: Annotated[str, typer.Option(help="The tenant's plan (see `llmaas tiers list`).")],
    prepaid_eur: Annotated[str | None, typer.Option(help="Prepaid credit granted, in euros.")] = None,
    config: ConfigOption = None,
) -> None:
    """Create a tenant on a tier.

    Example: llmaas tenants create acme --tier standard --prepaid-eur 500
    """
    credit = euros(prepaid_eur)
    fields = ["tier", "prepaid_credit_eur"] if credit is not None else ["tier"]
    with opened_database(config) as engine:
        try:
            with audited(engine, "tenant.create", "tenant", name, fields=fields):
                tenant = TenantService(engine).create(name=name, tier=tier, prepaid_credit_nano=credit)
        except LlmaasError as error:
            raise fail(error) from None
    console.print(f"Created tenant [bold]{escape(tenant.name)}[/bold] on tier {escape(tenant.tier)}.")


@tenants_app.command("update")
def update_tenant(
    name: str,
    tier: Annotated[str | None, typer.Option(help="Move the tenant to this plan.")] = None,
    prepaid_eur: Annotated[str | None, typer.Option(help="Prepaid credit granted, in euros.")] = None,
    email_domains: Annotated[str | None, typer.Option(
        help="The e-mail domains its own identity provider may claim, comma-separated; replaces the "
             "grant (\"\" clears it).")] = None,
    config: ConfigOption = None,
) -> None:
    """Change a tenant's tier, prepaid credit or e-mail domains (only the options given).

    Example: llmaas tenants update acme --tier business --email-domains acme.com,acme.fr
    """
    credit = euros(prepaid_eur)
    fields = sorted(field for field, value in (("tier", tier), ("prepaid_credit_eur", credit),
                                               ("email_domains", email_domains)) if value is not None)
    if not fields:
        raise fail(ValueError("Nothing to change: give --tier, --prepaid-eur or --email-domains."))
    with opened_database(config) as engine:
        try:
            with audited(engine, "tenant.update", "tenant", name, fields=fields):
                domains = None if email_domains is None else clean_email_domains(email_domains.split(","))
                tenant = TenantService(engine).update(name, tier=tier, prepaid_credit_nano=credit,
                                                      email_domains=domains)
        except LlmaasError as error:
            raise fail(error) from None
    console.print(f"Updated tenant [bold]{escape(tenant.name)}[/bold]: tier {escape(tenant.tier)}"
                  + (f", e-mail domains {', '.join(tenant.email_domains)}" if tenant.email_domains else "")
                  + ".")


@tenants_app.command("list")
def list_tenants(config: ConfigOption = None) -> None:
    """List tenants with their tier, prepaid credit and the e-mail domains granted to them."""
    table = Table("name", "tier", "prepaid credit", "e-mail domains", "created")
    with opened_database(config) as engine:
        tenants = TenantService(engine).list()
    for tenant in tenants:
        credit = format_eur(tenant.prepaid_credit_nano) if tenant.prepaid_credit_nano is not None else "-"
        table.add_row(escape(tenant.name), escape(tenant.tier), credit,
                      ", ".join(tenant.email_domains) or "-", when(tenant.created_at))
    out.print(table)


@tiers_app.command("list")
def list_tiers(config: ConfigOption = None) -> None:
    """List tiers with their monthly cap and throughput limits (empty = unlimited)."""
    table = Table("name", "monthly cap", "requests/min", "tokens/min", "output tokens/hour",
                  "output tokens/day", "guardrail", "description")
    with opened_database(config) as engine:
        tiers = TierService(engine).list()
    for tier in tiers:
        table.add_row(escape(tier.name), format_eur(tier.monthly_cap_nano),
                      *(f"{n:,}" if n is not None else "unlimited" for n in (
                          tier.requests_per_minute, tier.tokens_per_minute,
                          tier.output_tokens_per_hour, tier.output_tokens_per_day)),
                      tier.guardrail, escape(tier.description))
    out.print(table)


@tiers_app.command("set")
def set_tier(
    name: str,
    cap_eur: Annotated[str | None, typer.Option(help="Monthly spending cap in euros.")] = None,
    rpm: Annotated[int | None, typer.Option(help="Requests per minute.", min=0, max=MAX_RATE)] = None,
    tpm: Annotated[int | None, typer.Option(help="Tokens per minute.", min=0, max=MAX_RATE)] = None,
    output_per_hour: Annotated[int | None, typer.Option(
        help="Output tokens per hour.", min=0, max=MAX_RATE)] = None,
    output_per_day: Annotated[int | None, typer.Option(
        help="Output tokens per day.", min=0, max=MAX_RATE)] = None,
    guardrail: Annotated[Policy | None, typer.Option(
        help="Prompt-injection policy (off, flag, block) of the tier's keys without their own.",
    )] = None,
    config: ConfigOption = None,
) -> None:
    """Change a tier's limits (only the options given); tenants on it follow at once.

    Example: llmaas tiers set custom --rpm 100 --cap-eur 50 --guardrail block
    """
    changes = {"monthly_cap_nano": euros(cap_eur), "requests_per_minute": rpm, "tokens_per_minute": tpm,
               "output_tokens_per_hour": output_per_hour, "output_tokens_per_day": output_per_day}
    given = {field: value for field, value in changes.items() if value is not None}
    # Named as the admin API names them, so both faces' rows read alike.
    fields = sorted([*(f.replace("_nano", "_eur") for f in given), *(["guardrail"] if guardrail else [])])
    with opened_database(config) as engine:
        try:
            with audited(engine, "tier.update", "tier", name, fields=fields):
                tier = TierService(engine).update(name, guardrail=guardrail, **given)
        except (LlmaasError, ValueError) as error:
            raise fail(error) from None
    console.print(f"Updated tier [bold]{escape(tier.name)}[/bold].")
