"""The lifecycle policy: preview → active → deprecated → retired, with notice before retirement.

A model is announced deprecated at least `notice_months` (3) before it retires. A deprecated model
still answers, with `Deprecation` (RFC 9745) and `Sunset` (RFC 8594) headers and a `Link` to its
successor; a retired one answers 410 naming the successor, or — when the operator chose redirect —
the successor answers, and the response's `model` says so.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from email.utils import format_datetime

from llmaas.catalog.models import ModelEntry, Status


def add_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def notice_problem(entry: ModelEntry, notice_months: int) -> str | None:
    """Why the entry breaks the notice policy, or None."""
    if entry.retires_at is None or entry.deprecated_at is None:
        return None
    earliest = add_months(entry.deprecated_at, notice_months)
    if entry.retires_at < earliest:
        return (f"model {entry.id!r} retires on {entry.retires_at} but was deprecated on "
                f"{entry.deprecated_at}: the policy gives {notice_months} months' notice, so "
                f"{earliest} at the earliest")
    return None


def status(entry: ModelEntry, today: date) -> Status:
    """The status on a given day: dates move a model on without anyone editing it."""
    if entry.status == "retired" or (entry.retires_at is not None and entry.retires_at <= today):
        return "retired"
    if entry.status == "deprecated" or (entry.deprecated_at is not None and entry.deprecated_at <= today):
        return "deprecated"
    return entry.status


@dataclass(frozen=True)
class Resolution:
    requested: str  # what the client asked for: an id or an alias
    served: ModelEntry  # the model that answers
    headers: dict[str, str] = field(default_factory=dict)


def notice_headers(entry: ModelEntry) -> dict[str, str]:
    headers = {}
    if entry.deprecated_at is not None:
        moment = datetime.combine(entry.deprecated_at, datetime.min.time(), UTC)
        headers["Deprecation"] = f"@{int(moment.timestamp())}"  # RFC 9745: a structured date
    if entry.retires_at is not None:
        sunset = datetime.combine(entry.retires_at, datetime.min.time(), UTC)
        headers["Sunset"] = format_datetime(sunset, usegmt=True)  # RFC 8594: an HTTP-date
    if entry.successor:
        headers["Link"] = f'</v1/models/{entry.successor}>; rel="successor-version"'
    return headers
