"""`llmaas usage`: what was consumed and what it cost, from the ledger."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from llmaas.auth import KeyService
from llmaas.cli.common import ConfigOption, day, fail, opened_database, out
from llmaas.errors import NotFound
from llmaas.metering.reports import GroupBy, month_start, report
from llmaas.tenancy import TenantService
from llmaas.tenancy.money import eur_number, format_eur


def usage(
    tenant: Annotated[str | None, typer.Option(help="Only this tenant.")] = None,
    since: Annotated[str | None, typer.Option(help="First day (YYYY-MM-DD); default: this month.")] = None,
    group_by: Annotated[str, typer.Option(help="day, model or key.")] = "model",
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    config: ConfigOption = None,
) -> None:
    """Usage and cost from the ledger, grouped by model, day or key.

    Example: llmaas usage --tenant acme --since 2026-11-01 --group-by day
    """
    if group_by not in ("day", "model", "key"):
        raise typer.BadParameter("group-by takes day, model or key")
    with opened_database(config) as engine:
        tenant_id = None
        if tenant is not None:
            try:
                tenant_id = TenantService(engine).id_of(tenant)
            except NotFound as error:
                raise fail(error) from None
        names = KeyService(engine).prefixes()
        start = day(since) or month_start()
        groups = report(engine, group_by=group_by_value(group_by), since=start, tenant_id=tenant_id,
                        key_names=names)
    if as_json:
        print(json.dumps([{**vars(g), "cost_eur": eur_number(g.cost_nano)} for g in groups]))
        return
    table = Table(group_by, "requests", "input tokens", "output tokens", "audio minutes", "cost",
                  title=f"Usage since {start:%Y-%m-%d}" + (f" for {escape(tenant)}" if tenant else ""))
    for g in groups:
        table.add_row(escape(g.group), f"{g.requests:,}", f"{g.input_tokens:,}", f"{g.output_tokens:,}",
                      f"{g.billed_minutes:,}", format_eur(g.cost_nano))
    table.add_section()
    table.add_row("total", f"{sum(g.requests for g in groups):,}", "", "", "",
                  format_eur(sum(g.cost_nano for g in groups)))
    out.print(table)


def group_by_value(value: str) -> GroupBy:
    return "day" if value == "day" else "key" if value == "key" else "model"
