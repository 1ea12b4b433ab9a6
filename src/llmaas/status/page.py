"""The status report as a plain HTML page: tables with captions and header cells, words beside every
colour, no script. Every value is escaped. It never refreshes itself: a page that reloads on a timer
takes the reader's place away (WCAG 2.2.1, axe-core's meta-refresh rule); a link reloads it."""

from __future__ import annotations

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


def _model_row(model: ModelStatus) -> str:
    state = f'<span class="{model.state}">{"Up" if model.state == "up" else "Down"}</span>'
    cells = [
        state, escape(model.lifecycle), _percent(model.availability.last_24h),
        _percent(model.availability.last_7d), _percent(model.availability.last_30d), _target(model),
        _number(model.last_hour.time_to_first_token_p50_ms, "ms"),
        _number(model.last_hour.tokens_per_second, "tokens/s"),
    ]
    return (f'<tr><th scope="row">{escape(model.id)}</th>'
            + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>")


def _incidents(report: StatusReport) -> str:
    if not report.incidents:
        return "<p>No incident in the last 30 days.</p>"
    rows = "".join(
        f'<tr><th scope="row">{escape(i.model)}</th><td>{_when(i.started_at)}</td>'
        f'<td>{_when(i.ended_at, "ongoing")}</td><td>{i.duration_minutes} min</td></tr>'
        for i in report.incidents)
    return ('<table><caption>Incidents of the last 30 days, newest first</caption><thead><tr>'
            '<th scope="col">Model</th><th scope="col">Down from</th><th scope="col">Up again</th>'
            f'<th scope="col">Duration</th></tr></thead><tbody>{rows}</tbody></table>')


def _notices(report: StatusReport) -> str:
    if not report.notices:
        return "<p>No model is scheduled for deprecation or retirement.</p>"
    rows = "".join(
        f'<tr><th scope="row">{escape(n.model)}</th><td>{escape(n.lifecycle)}</td>'
        f'<td>{_when(n.deprecated_at)}</td><td>{_when(n.retires_at)}</td>'
        f'<td>{escape(n.successor) if n.successor else "—"}</td></tr>'
        for n in report.notices)
    return ('<table><caption>Deprecations and retirements</caption><thead><tr>'
            '<th scope="col">Model</th><th scope="col">Status</th><th scope="col">Deprecated</th>'
            '<th scope="col">Retires</th><th scope="col">Successor</th></tr></thead>'
            f'<tbody>{rows}</tbody></table>')


def _summary(report: StatusReport) -> str:
    down = [model.id for model in report.models if model.state == "down"]
    if not down:
        return '<p class="summary up">All models are up.</p>'
    return (f'<p class="summary down">{len(down)} of {len(report.models)} models down: '
            f'{escape(", ".join(down))}.</p>')


def render(report: StatusReport) -> str:
    target = f"{report.availability_target_percent:g} %"
    models = "".join(_model_row(model) for model in report.models)
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
<table>
<caption>Each model now, its availability and its speed</caption>
<thead><tr><th scope="col">Model</th><th scope="col">Now</th><th scope="col">Lifecycle</th>
<th scope="col">24 hours</th><th scope="col">7 days</th><th scope="col">30 days</th>
<th scope="col">{target} target</th><th scope="col">Time to first token (median)</th>
<th scope="col">Speed after the first token</th></tr></thead>
<tbody>{models}</tbody>
</table>
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
