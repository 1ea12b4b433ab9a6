from __future__ import annotations

from datetime import date

import pytest

from llmaas.catalog import Catalog, ModelEntry, Upstream
from llmaas.catalog.catalog import CatalogError
from llmaas.catalog.lifecycle import add_months, status
from llmaas.errors import ModelRetired


def entry(model_id: str, **lifecycle: object) -> ModelEntry:
    return ModelEntry.model_validate({
        "id": model_id, "family": "f", "owned_by": "o", "capabilities": ["chat"], "context_length": 8,
        "license": "MIT", "upstreams": [Upstream(url="http://x/v1")], **lifecycle,
    })


def test_retirement_needs_three_months_notice() -> None:
    with pytest.raises(CatalogError, match="2027-03-31 at the earliest"):
        Catalog([entry("a", deprecated_at="2026-12-31", retires_at="2027-03-30"), entry("b")])
    Catalog([entry("a", deprecated_at="2026-12-31", retires_at="2027-03-31")])
    Catalog([entry("a", deprecated_at="2026-12-31", retires_at="2027-01-15")], notice_months=0)


def test_the_notice_period_is_calendar_months() -> None:
    assert add_months(date(2026, 11, 30), 3) == date(2027, 2, 28)
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)


def test_dates_move_a_model_through_its_lifecycle() -> None:
    model = entry("a", deprecated_at="2026-01-01", retires_at="2026-06-01")
    assert status(model, date(2025, 12, 31)) == "active"
    assert status(model, date(2026, 1, 1)) == "deprecated"
    assert status(model, date(2026, 6, 1)) == "retired"
    assert status(entry("p", status="preview"), date(2026, 1, 1)) == "preview"


@pytest.mark.parametrize(
    ("models", "aliases", "message"),
    [
        ([entry("a", successor="ghost", deprecated_at="2026-01-01")], {}, "unknown successor"),
        ([entry("a")], {"default": "ghost"}, "unknown model"),
        ([entry("a")], {"a": "a"}, "also a model id"),
    ],
)
def test_references_must_exist(models: list[ModelEntry], aliases: dict[str, str], message: str) -> None:
    with pytest.raises(CatalogError, match=message):
        Catalog(models, aliases=aliases)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"retires_at": "2027-01-01"}, "deprecated_at"),
        ({"status": "deprecated"}, "deprecated_at"),
        ({"on_retired": "redirect"}, "successor"),
    ],
)
def test_inconsistent_lifecycles_are_refused(fields: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        entry("a", **fields)


def test_resolve_on_a_given_day() -> None:
    catalog = Catalog([entry("new"), entry("old", deprecated_at="2026-01-01", retires_at="2026-06-01",
                                           successor="new")], aliases={"default": "old"})
    before = catalog.resolve("default", today=date(2026, 3, 1))
    assert (before.requested, before.served.id) == ("default", "old")
    assert before.headers["Link"] == '</v1/models/new>; rel="successor-version"'
    with pytest.raises(ModelRetired, match="Use `new` instead"):
        catalog.resolve("old", today=date(2026, 6, 1))
    assert catalog.resolve("new", today=date(2026, 6, 1)).headers == {}
