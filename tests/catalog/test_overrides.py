"""Merging the operator's overrides over the file's entries, and validating what that makes."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from llmaas.catalog import Catalog, ModelEntry
from llmaas.catalog.catalog import CatalogError
from llmaas.catalog.overrides import AliasOverride, ModelOverride, OverrideError, Overrides, apply_overrides

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def entry(model_id: str, **fields: Any) -> ModelEntry:
    return ModelEntry.model_validate({
        "id": model_id, "family": "f", "owned_by": "o", "capabilities": ["chat"], "context_length": 8192,
        "license": "MIT", "upstreams": [{"url": "http://a/v1"}],
        "pricing": {"input_per_million_tokens": 1, "output_per_million_tokens": 2}, **fields,
    })


def overrides(models: dict[str, dict[str, Any]] | None = None, aliases: dict[str, str | None] | None = None,
              revision: int = 7) -> Overrides:
    return Overrides(
        revision,
        {m: ModelOverride(m, fields, NOW, "tests") for m, fields in (models or {}).items()},
        {a: AliasOverride(a, target, NOW, "tests") for a, target in (aliases or {}).items()},
    )


@pytest.fixture
def base() -> Catalog:
    return Catalog([entry("a"), entry("b")], aliases={"default": "a", "old-name": "b"})


def test_fields_replace_objects_merge_and_null_clears(base: Catalog) -> None:
    merged = apply_overrides(base, overrides({"a": {
        "description": "Overridden", "max_output_tokens": 1024, "ip_indemnity": True,
        "pricing": {"input_per_million_tokens": 5},  # the output price stays the file's
        "upstreams": [{"url": "http://b/v1", "api_key": "k"}],  # a list replaces the file's
        "deprecated_at": "2026-12-01", "retires_at": "2027-03-01", "successor": "b",
    }}))
    a = merged.get("a")
    assert (a.description, a.max_output_tokens, a.ip_indemnity) == ("Overridden", 1024, True)
    assert a.pricing.input_per_million_tokens == Decimal(5)
    assert a.pricing.output_per_million_tokens == Decimal(2)
    assert [(u.url, u.api_key) for u in a.upstreams] == [("http://b/v1", "k")]
    assert (a.deprecated_at, a.retires_at, a.successor) == (date(2026, 12, 1), date(2027, 3, 1), "b")
    assert merged.get("b") == base.get("b") and merged.aliases == base.aliases
    assert (merged.base, merged.revision, base.revision) == (base, 7, None)

    cleared = apply_overrides(Catalog([entry("a", successor="b", deprecated_at="2026-01-01"), entry("b")]),
                              overrides({"a": {"successor": None}}))
    assert cleared.get("a").successor is None


def test_overrides_apply_to_the_file_catalog_and_never_stack(base: Catalog) -> None:
    first = apply_overrides(base, overrides({"a": {"description": "one", "license": "x"}}))
    second = apply_overrides(first, overrides({"a": {"description": "two"}}, revision=8))
    assert second.get("a").description == "two" and second.get("a").license == "MIT"
    assert second.base is base


def test_alias_overrides_add_repoint_and_remove(base: Catalog) -> None:
    merged = apply_overrides(base, overrides(aliases={"new": "b", "default": "b", "old-name": None}))
    assert merged.aliases == {"new": "b", "default": "b"}
    assert base.aliases == {"default": "a", "old-name": "b"}  # the file's catalog is untouched


def test_an_override_of_a_model_gone_from_the_file_is_ignored(
    base: Catalog, caplog: pytest.LogCaptureFixture
) -> None:
    merged = apply_overrides(base, overrides({"ghost": {"description": "x"}}))
    assert [e.id for e in merged] == ["a", "b"] and "ghost" in caplog.text


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"id": "x"}, "id", "`id` cannot be overridden"),
        ({"engine": {"kind": "llama", "artifact": "x"}}, "engine", "`engine` cannot be overridden"),
        ({"colour": "red"}, "colour", "no field `colour`"),
        ({"context_length": "lots"}, "context_length", "context_length: Input should be a valid integer"),
        ({"context_length": 0}, "context_length", "greater than 0"),
        ({"pricing": {"input_per_million_tokens": -1}}, "pricing", "pricing.input_per_million_tokens"),
        ({"status": "gone"}, "status", "status: Input should be"),
        ({"on_retired": "redirect"}, None, "names no successor"),
        ({"retires_at": "2027-06-01"}, None, "no `deprecated_at`"),
        ({"upstreams": [{"url": 5, "api_key": "sk-very-secret"}]}, "upstreams", "upstreams.0.url"),
    ],
)
def test_a_bad_override_says_which_field(
    base: Catalog, fields: dict[str, Any], field: str | None, message: str
) -> None:
    with pytest.raises(OverrideError, match=message) as caught:
        apply_overrides(base, overrides({"a": fields}))
    assert caught.value.field == field
    assert "sk-very-secret" not in str(caught.value)  # values never echo: one may be a secret


@pytest.mark.parametrize(
    ("models", "aliases", "message"),
    [
        ({"a": {"deprecated_at": "2026-12-01", "retires_at": "2027-02-28"}}, {}, "2027-03-01 at the"),
        ({"a": {"successor": "ghost"}}, {}, "unknown successor 'ghost'"),
    ],
)
def test_the_merged_catalog_is_validated_as_a_whole(
    base: Catalog, models: dict[str, dict[str, Any]], aliases: dict[str, str | None], message: str
) -> None:
    with pytest.raises(CatalogError, match=message):
        apply_overrides(base, overrides(models, aliases))


def test_alias_overrides_the_file_no_longer_fits_are_ignored_and_logged(
    base: Catalog, caplog: pytest.LogCaptureFixture
) -> None:
    # A stored alias must not stop every replica from starting after a change of the file; the store
    # refuses such aliases when they are written (tests/catalog/test_store.py).
    with caplog.at_level(logging.WARNING):
        merged = apply_overrides(base, overrides({}, {"x": "ghost", "b": "a", "y": "a"}))
    assert merged.aliases == {**base.aliases, "y": "a"}
    assert "'x' ignored: model 'ghost' is not in the catalog file" in caplog.text
    assert "'b' ignored: 'b' is now a model id" in caplog.text


def test_the_notice_period_follows_the_file_catalogs_setting() -> None:
    lenient = Catalog([entry("a")], notice_months=0)
    merged = apply_overrides(lenient, overrides({"a": {"deprecated_at": "2026-12-01",
                                                       "retires_at": "2026-12-02"}}))
    assert merged.notice_months == 0 and merged.get("a").retires_at == date(2026, 12, 2)
