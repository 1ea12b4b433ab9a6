"""`llmaas models`: the catalog, the operator's overrides on it, and reloads.

Overrides are written to the database; running servers pick them up by polling it
(`catalog_poll_interval_s`), so no reload is needed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from llmaas.catalog import Catalog, lifecycle, load_catalog
from llmaas.catalog.catalog import CatalogError
from llmaas.catalog.store import OverrideStore
from llmaas.cli.common import (
    ConfigOption,
    actor,
    audited,
    console,
    fail,
    opened_database,
    out,
    signal_reload,
)
from llmaas.errors import LlmaasError
from llmaas.settings import Settings, load_settings

app = typer.Typer(help="The model catalog: list it, override it, reload it.", no_args_is_help=True)


def _file_catalog(settings: Settings) -> Catalog:
    try:
        return load_catalog(settings.catalog_file, notice_months=settings.deprecation_notice_months)
    except CatalogError as error:
        raise fail(error) from None


def _propagation(settings: Settings) -> str:
    return (f"Running servers pick this up within {settings.catalog_poll_interval_s:g} s "
            "(catalog_poll_interval_s); no reload is needed.")


def _write(
    config: Path | None, change: str, write: Callable[[OverrideStore, Catalog], Catalog], *, action: str,
    target_type: str, target: str, **details: Any,
) -> None:
    """Run one override write, audited as `action`; on refusal, print why (nothing was written)."""
    settings = load_settings(config)
    base = _file_catalog(settings)
    with opened_database(config) as engine:
        try:
            with audited(engine, action, target_type, target, **details):
                write(OverrideStore(engine), base)
        except LlmaasError as error:  # CatalogError among them
            console.print(f"[red]Not saved: {escape(error.message)}[/red]")
            raise typer.Exit(1) from None
    console.print(change)
    console.print(_propagation(settings))


def _date(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date like 2027-06-30", param_hint=option) from None


def _value(text: str) -> Any:
    """JSON where it parses (numbers, true, null, objects), else the text itself."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


@app.command("list")
def list_models(config: ConfigOption = None) -> None:
    """Show the catalog as served: the file with the database's overrides (marked *) on top.

    Example: llmaas models list
    """
    settings = load_settings(config)
    with opened_database(config) as engine:
        store = OverrideStore(engine)
        try:
            overrides = store.load()
            catalog = store.apply(_file_catalog(settings), overrides)
        except CatalogError as error:
            raise fail(error) from None
    today = datetime.now(UTC).date()
    table = Table("id", "capabilities", "context", "license", "status", "retires", "successor", "served by",
                  "overridden")
    for entry in catalog:
        changed = set(overrides.models[entry.id].fields) if entry.id in overrides.models else set()
        served = f"embedded {entry.engine.kind}" if entry.engine else ", ".join(
            upstream.url for upstream in entry.upstreams
        )
        state = lifecycle.status(entry, today)
        colour = {"deprecated": "yellow", "retired": "red"}.get(state, "green")
        table.add_row(
            escape(entry.id), _marked(", ".join(entry.capabilities), changed, "capabilities"),
            _marked(str(entry.context_length), changed, "context_length"),
            _marked(escape(entry.license), changed, "license"),
            _marked(f"[{colour}]{state}[/{colour}]", changed, "status", "deprecated_at", "retires_at"),
            _marked(str(entry.retires_at or ""), changed, "retires_at"),
            _marked(escape(entry.successor or ""), changed, "successor"),
            _marked(escape(served), changed, "upstreams"),
            ", ".join(sorted(changed)),
        )
    out.print(table)
    for alias, target in sorted(catalog.aliases.items()):
        mark = "*" if alias in overrides.aliases else ""
        out.print(f"alias [bold]{escape(alias)}[/bold]{mark} → {escape(target)}")
    if overrides.models or overrides.aliases:
        out.print("* set by an override in the database (llmaas models override / alias)")


def _marked(text: str, changed: set[str], *fields: str) -> str:
    return f"{text}*" if changed.intersection(fields) else text


@app.command("deprecate")
def deprecate(
    model_id: Annotated[str, typer.Argument(metavar="ID", help="The model to deprecate.")],
    retires_at: Annotated[str, typer.Option(help="Retirement day (YYYY-MM-DD): no answers from then.")],
    successor: Annotated[str | None, typer.Option(help="The model clients should move to.")] = None,
    on_retired: Annotated[
        str | None, typer.Option(help="After retirement: refuse (410) or redirect to the successor.")
    ] = None,
    notice_date: Annotated[
        str | None, typer.Option(help="Day the deprecation is announced (YYYY-MM-DD); default today.")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Announce a model's deprecation and retirement, with the policy's notice (3 months by default).

    Example: llmaas models deprecate mistral-small --retires-at 2027-06-30 --successor mistral-medium
    """
    if on_retired not in (None, "refuse", "redirect"):
        raise typer.BadParameter("takes refuse or redirect", param_hint="--on-retired")
    notice = _date(notice_date, "--notice-date") if notice_date else datetime.now(UTC).date()
    retires = _date(retires_at, "--retires-at")
    fields: dict[str, Any] = {"deprecated_at": notice, "retires_at": retires}
    if successor is not None:
        fields["successor"] = successor
    if on_retired is not None:
        fields["on_retired"] = on_retired
    advice = f", successor {successor}" if successor else ""
    _write(config, f"Model [bold]{model_id}[/bold] is deprecated from {notice} and retires on {retires}"
                   f"{advice}.",
           lambda store, base: store.set_model(model_id, fields, base=base, actor=actor(), merge=True),
           action="catalog.override.update", target_type="model", target=model_id, fields=sorted(fields))


@app.command("override")
def override(
    model_id: Annotated[str, typer.Argument(metavar="ID", help="The model whose fields to override.")],
    set_: Annotated[list[str] | None, typer.Option(
        "--set", help="field=value; the value is JSON where it parses, else text. Repeatable.")] = None,
    unset: Annotated[list[str] | None, typer.Option(help="Drop a field from the override.")] = None,
    clear: Annotated[bool, typer.Option(help="Drop the whole override: the file's entry applies.")] = False,
    config: ConfigOption = None,
) -> None:
    """Override fields of a catalog model in the database (any field but id and engine).

    Example: llmaas models override mistral-small --set max_output_tokens=4096 --set ip_indemnity=true
    """
    if clear:
        if set_ or unset:
            raise typer.BadParameter("--clear goes alone", param_hint="--clear")
        _write(config, f"Cleared the override of [bold]{model_id}[/bold]; the catalog file's entry applies.",
               lambda store, base: store.clear_model(model_id, base=base, actor=actor()),
               action="catalog.override.clear", target_type="model", target=model_id)
        return
    if not set_ and not unset:
        raise typer.BadParameter("give --set field=value, --unset field or --clear", param_hint="--set")
    fields: dict[str, Any] = {}
    for assignment in set_ or []:
        name, equals, text = assignment.partition("=")
        if not equals or not name.strip():
            raise typer.BadParameter(f"{assignment!r} is not field=value", param_hint="--set")
        fields[name.strip()] = _value(text)
    names = ", ".join([*fields, *(f"-{name}" for name in unset or [])])
    _write(config, f"Override of [bold]{model_id}[/bold] saved ({names}).",
           lambda store, base: store.set_model(model_id, fields, base=base, actor=actor(), merge=True,
                                               unset=unset or ()),
           action="catalog.override.update", target_type="model", target=model_id, fields=sorted(fields),
           **({"unset": sorted(unset)} if unset else {}))


@app.command("alias")
def alias(
    name: Annotated[str, typer.Argument(help="The alias clients send as `model`.")],
    model_id: Annotated[str | None, typer.Argument(metavar="[MODEL]", help="The model it points to.")] = None,
    remove: Annotated[bool, typer.Option(help="Remove the alias (also one from the catalog file).")] = False,
    config: ConfigOption = None,
) -> None:
    """Point an alias at a model, or remove one, in the database.

    Example: llmaas models alias chat-default mistral-medium
    """
    if remove == (model_id is not None):
        raise typer.BadParameter("give either a MODEL or --remove", param_hint="MODEL")
    if model_id is None:
        _write(config, f"Removed alias [bold]{name}[/bold].",
               lambda store, base: store.remove_alias(name, base=base, actor=actor()),
               action="catalog.alias.remove", target_type="alias", target=name)
    else:
        _write(config, f"Alias [bold]{name}[/bold] → {model_id}.",
               lambda store, base: store.set_alias(name, model_id, base=base, actor=actor()),
               action="catalog.alias.set", target_type="alias", target=name, model=model_id)


@app.command("reload")
def reload(config: ConfigOption = None) -> None:
    """Make the running `llmaas serve` read its catalog file again, without a restart (SIGHUP).

    In-flight requests finish on the catalog they started with. An invalid file is refused and
    logged by the server, which keeps the catalog it had. Overrides need no reload.
    """
    signal_reload(config, action="catalog.reload", target_type="catalog")
    console.print("Asked the server to reload its catalog; its log says how it went.")
