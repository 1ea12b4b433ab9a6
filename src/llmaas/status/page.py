"""The status report as a plain HTML page: tables with captions and header cells, words beside every
colour, no script. Every value is escaped. It never refreshes itself: a page that reloads on a timer
takes the reader's place away (WCAG 2.2.1, axe-core's meta-refresh rule); a link reloads it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from html import escape

from llmaas.status.schema import ModelStatus, StatusReport


def _percent(value: float | None) -> str:
    return "no data" if value is None else f"{value:.3f} %"


def _when(moment: datetime | date | None, empty: str = "—") -> str:
    if moment is None:
        return empty
    shown = moment.strftime("%Y-%m-%d %H:%M UTC") if isinstance(moment, datetime) else moment.isoformat()
    return f'<time datetime="{escape(moment.isoformat())}">{shown}</time>'


def _number(value: float | None, unit: str) -> str:
    return "—" if value is None else f"{value:g} {unit}"


def _target(model: ModelStatus) -> str:
    if model.meets_target is None:
        return '<span class="unknown">no data</span>'
    return '<span class="up">met</span>' if model.meets_target else '<span class="down">missed</span>'


def _table(caption: str, columns: Sequence[str], rows: Iterable[tuple[str, Sequence[str]]]) -> str:
    """A table whose rows each start with a model's id as their header; `rows` are (id, cells), the
    id escaped here, the cells HTML already escaped."""
    head = "".join(f'<th scope="col">{column}</th>' for column in columns)
    body = "".join(f'<tr><th scope="row">{escape(name)}</th>' + "".join(f"<td>{cell}</td>" for cell in cells)
                   + "</tr>" for name, cells in rows)
    return f"<table><caption>{caption}</caption><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _models(report: StatusReport, target: str) -> str:
    rows = ((model.id, [
        f'<span class="{model.state}">{"Up" if model.state == "up" else "Down"}</span>',
        escape(model.lifecycle), _percent(model.availability.last_24h),
        _percent(model.availability.last_7d), _percent(model.availability.last_30d), _target(model),
        _number(model.last_hour.time_to_first_token_p50_ms, "ms"),
        _number(model.last_hour.tokens_per_second, "tokens/s"),
    ]) for model in report.models)
    return _table("Each model now, its availability and its speed",
                  ["Model", "Now", "Lifecycle", "24 hours", "7 days", "30 days", f"{target} target",
                   "Time to first token (median)", "Speed after the first token"], rows)


def _incidents(report: StatusReport) -> str:
    if not report.incidents:
        return "<p>No incident in the last 30 days.</p>"
    rows = ((i.model, [_when(i.started_at), _when(i.ended_at, "ongoing"), f"{i.duration_minutes} min"])
            for i in report.incidents)
    return _table("Incidents of the last 30 days, newest first",
                  ["Model", "Down from", "Up again", "Duration"], rows)


def _notices(report: StatusReport) -> str:
    if not report.notices:
        return "<p>No model is scheduled for deprecation or retirement.</p>"
    rows = ((n.model, [escape(n.lifecycle), _when(n.deprecated_at), _when(n.retires_at),
                       escape(n.successor) if n.successor else "—"]) for n in report.notices)
    return _table("Deprecations and retirements",
                  ["Model", "Status", "Deprecated", "Retires", "Successor"], rows)


def _summary(report: StatusReport) -> str:
    down = [model.id for model in report.models if model.state == "down"]
    if not down:
        return '<p class="summary up">All models are up.</p>'
    return (f'<p class="summary down">{len(down)} of {len(report.models)} models down: '
            f'{escape(", ".join(down))}.</p>')


def render(report: StatusReport) -> str:
    target = f"{report.availability_target_percent:g} %"
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Service status</title>
<link rel="stylesheet" href="/status.css">
</head>
<body>
<header>
<h1>Service status</h1>
{_summary(report)}
<p>Updated {_when(report.generated_at)}; <a href="/status">reload</a> for newer figures.
The figures are also at <a href="/status.json">/status.json</a>.</p>
</header>
<main>
<section aria-labelledby="models">
<h2 id="models">Models</h2>
<p>The platform commits to {target} availability over 30 days. Availability counts the minutes in which
health probes found an engine answering; speed is measured on streamed answers of the last hour.</p>
<div class="scroll">
{_models(report, target)}
</div>
</section>
<section aria-labelledby="incidents">
<h2 id="incidents">Incidents</h2>
{_incidents(report)}
</section>
<section aria-labelledby="lifecycle">
<h2 id="lifecycle">Scheduled changes</h2>
{_notices(report)}
</section>
</main>
</body>
</html>
"""
