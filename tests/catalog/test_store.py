"""The overrides in the database (SQLite and PostgreSQL): writes validate first and refuse with nothing
written, and the revision moves on every write."""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

import pytest
from sqlalchemy import Engine, event, inspect, text

from llmaas.catalog import Catalog, ModelEntry
from llmaas.catalog.catalog import CatalogError
from llmaas.catalog.overrides import OverrideError
from llmaas.catalog.store import OverrideStore
from llmaas.errors import ModelNotFound, NotFound

ACTOR = "cli:tester"
TODAY = date(2026, 11, 27)  # the dates below are the future of this day


def entry(model_id: str, **fields: Any) -> ModelEntry:
    return ModelEntry.model_validate({
        "id": model_id, "family": "f", "owned_by": "o", "capabilities": ["chat"], "context_length": 8192,
        "license": "MIT", "upstreams": [{"url": "http://a/v1"}], **fields,
    })


@pytest.fixture
def base() -> Catalog:
    return Catalog([entry("a"), entry("b")], aliases={"default": "a"})


@pytest.fixture
def store(database: Engine) -> OverrideStore:
    return OverrideStore(database, today=lambda: TODAY)


def test_set_merge_unset_and_clear(store: OverrideStore, base: Catalog) -> None:
    assert store.revision() == 0 and store.apply(base).revision == 0
    catalog = store.set_model("a", {"description": "first", "max_output_tokens": 100}, base=base, actor=ACTOR)
    assert (catalog.get("a").description, catalog.revision, store.revision()) == ("first", 1, 1)
    stored = store.load().models["a"]
    assert stored.fields == {"description": "first", "max_output_tokens": 100}
    assert stored.updated_by == ACTOR and stored.updated_at.tzinfo is not None

    catalog = store.set_model("a", {"license": "Apache-2.0"}, base=catalog, actor=ACTOR, merge=True,
                              unset=["max_output_tokens"])
    assert store.load().models["a"].fields == {"description": "first", "license": "Apache-2.0"}
    assert catalog.get("a").max_output_tokens is None and catalog.base is base

    catalog = store.set_model("a", {"ip_indemnity": True}, base=catalog, actor=ACTOR)  # replaces
    assert store.load().models["a"].fields == {"ip_indemnity": True}
    assert catalog.get("a").description == "" and catalog.get("a").ip_indemnity

    catalog = store.clear_model("a", base=catalog, actor=ACTOR)
    assert catalog.get("a") == base.get("a") and store.load().models == {} and store.revision() == 4
    with pytest.raises(NotFound, match="has no override"):
        store.clear_model("a", base=catalog, actor=ACTOR)


def test_a_deprecation_notice_cannot_be_backdated(
    store: OverrideStore, base: Catalog, database: Engine
) -> None:
    # Backdated by a year, the notice period would be met without a day of real notice.
    with pytest.raises(OverrideError, match="in the past: a deprecation notice starts when it is given, "
                                            "2026-11-27 at the earliest") as refused:
        store.set_model("a", {"deprecated_at": "2025-11-26", "retires_at": "2026-12-01"}, base=base,
                        actor=ACTOR)
    assert refused.value.field == "deprecated_at" and store.revision() == 0
    catalog = store.set_model("a", {"deprecated_at": TODAY, "retires_at": "2027-02-27"}, base=base,
                              actor=ACTOR)
    assert catalog.get("a").deprecated_at == TODAY
    # A day later the announced notice is in the past, and other fields may still change around it.
    later = OverrideStore(database, today=lambda: date(2026, 11, 28))
    catalog = later.set_model("a", {"successor": "b"}, base=catalog, actor=ACTOR, merge=True)
    assert catalog.get("a").deprecated_at == TODAY and catalog.get("a").successor == "b"
    # As the CLI writes, on the file's catalog alone: the stored notice is still the one announced.
    assert later.set_model("a", {"license": "x"}, base=base, actor=ACTOR, merge=True).get("a").license == "x"
    # The file's own notice (given when the file was deployed) is the operator's to keep.
    announced = Catalog([entry("a", deprecated_at="2026-01-01", retires_at="2026-06-01"), entry("b")])
    assert later.set_model("a", {"successor": "b"}, base=announced, actor=ACTOR).get("a").successor == "b"


def test_dates_and_python_values_are_stored_as_json(store: OverrideStore, base: Catalog) -> None:
    catalog = store.set_model("a", {"deprecated_at": date(2026, 12, 1), "retires_at": date(2027, 3, 1)},
                              base=base, actor=ACTOR)
    assert store.load().models["a"].fields == {"deprecated_at": "2026-12-01", "retires_at": "2027-03-01"}
    assert catalog.get("a").retires_at == date(2027, 3, 1)


@pytest.mark.parametrize(
    ("model_id", "fields", "error", "message"),
    [
        ("a", {"deprecated_at": "2026-12-01", "retires_at": "2027-01-01"}, CatalogError, "at the earliest"),
        ("a", {"deprecated_at": "2026-12-01", "successor": "ghost"}, CatalogError, "unknown successor"),
        ("a", {"context_length": "lots"}, OverrideError, "valid integer"),
        ("a", {"engine": {"kind": "llama", "artifact": "x"}}, OverrideError, "cannot be overridden"),
        ("a", {"colour": "red"}, OverrideError, "no field"),
        ("a", {}, OverrideError, "changes nothing"),
        ("ghost", {"description": "x"}, ModelNotFound, "ghost"),
    ],
)
def test_a_refused_write_writes_nothing(
    store: OverrideStore, base: Catalog, model_id: str, fields: dict[str, Any], error: type[Exception],
    message: str,
) -> None:
    store.set_model("b", {"description": "kept"}, base=base, actor=ACTOR)
    with pytest.raises(error, match=message):
        store.set_model(model_id, fields, base=base, actor=ACTOR)
    assert store.revision() == 1
    assert {m: o.fields for m, o in store.load().models.items()} == {"b": {"description": "kept"}}


def test_a_refused_merge_keeps_the_previous_override(store: OverrideStore, base: Catalog) -> None:
    store.set_model("a", {"deprecated_at": "2026-12-01", "retires_at": "2027-03-01"}, base=base, actor=ACTOR)
    with pytest.raises(CatalogError, match="at the earliest"):
        store.set_model("a", {"retires_at": "2027-01-15"}, base=base, actor=ACTOR, merge=True)
    assert store.load().models["a"].fields["retires_at"] == "2027-03-01" and store.revision() == 1


def test_aliases_are_added_repointed_and_removed(store: OverrideStore, base: Catalog) -> None:
    catalog = store.set_alias("fast", "b", base=base, actor=ACTOR)
    catalog = store.set_alias("default", "b", base=catalog, actor=ACTOR)
    assert catalog.aliases == {"default": "b", "fast": "b"}
    catalog = store.remove_alias("fast", base=catalog, actor=ACTOR)  # set here: dropped
    assert "fast" not in store.load().aliases
    catalog = store.remove_alias("default", base=catalog, actor=ACTOR)  # from the file: masked
    assert catalog.aliases == {} and store.load().aliases["default"].model_id is None
    assert store.apply(base).aliases == {}
    with pytest.raises(NotFound, match="No alias named 'default'"):
        store.remove_alias("default", base=catalog, actor=ACTOR)
    catalog = store.set_alias("default", "a", base=catalog, actor=ACTOR)  # and back
    assert catalog.aliases == {"default": "a"}


@pytest.mark.parametrize(
    ("alias", "model_id", "error", "message"),
    [
        ("x", "ghost", ModelNotFound, "ghost"),
        ("b", "a", CatalogError, "also a model id"),
        (" ", "a", OverrideError, "not blank"),
        ("x" * 201, "a", OverrideError, "1 to 200"),
    ],
)
def test_a_refused_alias_writes_nothing(
    store: OverrideStore, base: Catalog, alias: str, model_id: str, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        store.set_alias(alias, model_id, base=base, actor=ACTOR)
    assert store.revision() == 0 and store.load().aliases == {}
    with pytest.raises(NotFound):
        store.remove_alias("ghost", base=base, actor=ACTOR)
    assert store.revision() == 0


def test_a_file_change_that_breaks_a_stored_override_is_refused(store: OverrideStore) -> None:
    announced = Catalog([entry("a", deprecated_at="2026-12-01"), entry("b")])
    store.set_model("a", {"retires_at": "2027-03-01"}, base=announced, actor=ACTOR)
    store.set_alias("fast", "b", base=announced, actor=ACTOR)
    unannounced = Catalog([entry("a"), entry("b")])
    with pytest.raises(CatalogError, match=r"overrides in the database: model 'a'.*no `deprecated_at`"):
        store.apply(unannounced)  # the file no longer announces a deprecation
    with pytest.raises(CatalogError, match=r"model 'a'.*no `deprecated_at`"):
        store.set_model("b", {"description": "x"}, base=unannounced, actor=ACTOR)  # says what blocks it
    assert store.revision() == 2


def test_an_alias_override_to_a_model_the_file_dropped_is_ignored_not_fatal(
    store: OverrideStore, base: Catalog, caplog: pytest.LogCaptureFixture
) -> None:
    store.set_alias("fast", "b", base=base, actor=ACTOR)
    with caplog.at_level(logging.WARNING):
        catalog = store.apply(Catalog([entry("a")], aliases={"default": "a"}))  # the file lost b
    assert catalog.aliases == {"default": "a"}
    assert "alias override 'fast' ignored: model 'b' is not in the catalog file" in caplog.text
    with pytest.raises(OverrideError, match="also a model id"):
        store.set_alias("b", "a", base=base, actor=ACTOR)


def test_a_masked_key_shown_back_is_not_saved_as_the_key(store: OverrideStore, base: Catalog) -> None:
    upstreams = [{"url": "http://vllm:8000/v1", "api_key": "********"}]
    with pytest.raises(OverrideError, match="the mask") as refused:
        store.set_model("a", {"upstreams": upstreams}, base=base, actor=ACTOR)
    assert refused.value.field == "upstreams" and store.revision() == 0


def test_an_unreadable_database_is_a_catalog_error(store: OverrideStore, database: Engine) -> None:
    with database.begin() as connection:
        connection.execute(text("DROP TABLE catalog_revision"))
    with pytest.raises(CatalogError, match="unreadable"):
        store.revision()


def test_the_migration_downgrades_and_upgrades_again(database: Engine) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", "llmaas:storage/migrations")
    with database.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0002")
        assert "catalog_revision" not in inspect(connection).get_table_names()
        command.upgrade(config, "head")
    assert OverrideStore(database).revision() == 0


def test_a_value_wrong_on_its_own_is_refused_before_any_write(
    store: OverrideStore, base: Catalog, database: Engine
) -> None:
    """A refused write rolled back is still in PostgreSQL's WAL: a mistyped secret must not get there."""
    sent: list[str] = []

    def record(_connection: object, _cursor: object, statement: str, parameters: object, *_: object) -> None:
        sent.append(f"{statement} {parameters}")

    event.listen(database, "before_cursor_execute", record)
    try:
        with pytest.raises(OverrideError, match="context_length") as refused:
            store.set_model("a", {"context_length": "canary-5e1d"}, base=base, actor=ACTOR)
    finally:
        event.remove(database, "before_cursor_execute", record)
    assert "canary-5e1d" not in str(refused.value)
    assert not [statement for statement in sent if "canary-5e1d" in statement]
    assert store.load().models == {}
