"""The overrides in the database: read them, and write them only when the catalog they make is valid.

Every write runs in one transaction that first bumps the revision (taking its row's write lock, so
concurrent writers validate one after the other), then changes the rows, then validates the catalog
those rows make; any error rolls everything back, so a refused change writes nothing. The faces that
call these writes record each in the audit log (llmaas.audit): who, which model or alias, which
fields — never a value, which may be a secret.

    store = OverrideStore(database)
    catalog = store.set_model("mistral-small", {"retires_at": "2027-06-01"}, base=catalog, actor="cli:ops")
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from datetime import UTC, date, datetime
from typing import Any

from pydantic_core import PydanticSerializationError, to_jsonable_python
from sqlalchemy import Engine, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from llmaas.catalog.catalog import Catalog, CatalogError
from llmaas.catalog.models import ModelEntry
from llmaas.catalog.overrides import (
    AliasOverride,
    ModelOverride,
    OverrideError,
    Overrides,
    OverridesUnavailable,
    apply_overrides,
    check_field_names,
    check_field_values,
    check_no_masked_secret,
)
from llmaas.errors import NotFound
from llmaas.storage.tables import CatalogAliasOverrideRow, CatalogModelOverrideRow, CatalogRevisionRow


class OverrideStore:
    """Reads and writes the operator's catalog overrides. Writes take the running catalog (`base`; only
    the file's catalog under it counts) and return the new, validated catalog to swap in."""

    def __init__(self, database: Engine, *, today: Callable[[], date] | None = None) -> None:
        self._database = database
        self._today = today or (lambda: datetime.now(UTC).date())

    def revision(self) -> int:
        """The overrides' revision: one cheap query, polled by every replica."""
        try:
            with Session(self._database) as session:
                return session.scalar(select(CatalogRevisionRow.revision)) or 0
        except SQLAlchemyError as error:
            raise OverridesUnavailable(f"catalog overrides unreadable ({type(error).__name__})") from None

    def load(self) -> Overrides:
        try:
            with Session(self._database) as session:
                return _read(session)
        except SQLAlchemyError as error:
            raise OverridesUnavailable(f"catalog overrides unreadable ({type(error).__name__})") from None

    def apply(self, base: Catalog, overrides: Overrides | None = None) -> Catalog:
        """The file's catalog under `base` with the stored overrides on top (CatalogError if invalid);
        `overrides`, when the caller has just read them, saves reading them again."""
        overrides = self.load() if overrides is None else overrides
        try:
            return apply_overrides(base, overrides)
        except OverrideError as error:
            raise OverrideError(f"the catalog overrides in the database: {error}",
                                field=error.field) from None
        except CatalogError as error:
            raise CatalogError(f"the catalog with the overrides in the database: {error}") from None

    def set_model(
        self, model_id: str, fields: Mapping[str, Any], *, base: Catalog, actor: str, merge: bool = False,
        unset: Collection[str] = (),
    ) -> Catalog:
        """Replace the model's override with `fields`, or with `merge`, add them to it (and drop the
        `unset` names). Raises ModelNotFound for a model the file does not list."""
        base.base.get(model_id)
        try:
            values: dict[str, Any] = to_jsonable_python(dict(fields))
        except PydanticSerializationError:
            raise OverrideError(f"the override of {model_id!r} is not JSON data.") from None
        check_field_names([*values, *unset])
        check_field_values(model_id, values)
        check_no_masked_secret(values)
        if not values and not merge:
            raise OverrideError(f"an empty override of {model_id!r} changes nothing; clear it instead.")

        stored: dict[str, Any] = {}  # the override as it was, read under the write's lock

        def change(session: Session, now: datetime) -> None:
            row = session.get(CatalogModelOverrideRow, model_id)
            stored.update(row.fields if row is not None else {})
            kept = dict(row.fields) if row is not None and merge else {}
            new = {name: value for name, value in {**kept, **values}.items() if name not in unset}
            if row is None and new:
                session.add(CatalogModelOverrideRow(model_id=model_id, fields=new, updated_at=now,
                                                    updated_by=actor))
            elif row is not None and new:
                row.fields, row.updated_at, row.updated_by = new, now, actor
            elif row is not None:
                session.delete(row)

        def not_backdated(catalog: Catalog) -> None:
            announced = {base.base.get(model_id).deprecated_at, _day(stored.get("deprecated_at"))}
            self._not_backdated(announced, catalog.get(model_id))

        return self._write(base, change, check=not_backdated)

    def clear_model(self, model_id: str, *, base: Catalog, actor: str) -> Catalog:
        """Drop the model's override: the file's entry applies again."""

        def change(session: Session, _now: datetime) -> None:
            row = session.get(CatalogModelOverrideRow, model_id)
            if row is None:
                raise NotFound(f"The model `{model_id}` has no override.", param="model")
            session.delete(row)

        return self._write(base, change)

    def set_alias(self, alias: str, model_id: str, *, base: Catalog, actor: str) -> Catalog:
        """Point `alias` at a model the file lists (ModelNotFound otherwise), over any file alias."""
        if not alias.strip() or len(alias) > 200:
            raise OverrideError("an alias is 1 to 200 characters, not blank.", field="alias")
        if alias in {entry.id for entry in base.base}:
            raise OverrideError(f"alias {alias!r} is also a model id.", field="alias")
        base.base.get(model_id)

        def change(session: Session, now: datetime) -> None:
            _put_alias(session, alias, model_id, now=now, actor=actor)

        return self._write(base, change)

    def remove_alias(self, alias: str, *, base: Catalog, actor: str) -> Catalog:
        """Remove an alias: one set here is dropped, one of the file's is masked (NotFound if neither)."""
        in_file = alias in base.base.aliases

        def change(session: Session, now: datetime) -> None:
            row = session.get(CatalogAliasOverrideRow, alias)
            if (row is None and not in_file) or (row is not None and row.model_id is None):
                raise NotFound(f"No alias named {alias!r}.", param="alias")
            if in_file:
                _put_alias(session, alias, None, now=now, actor=actor)  # None masks the file's alias
            else:
                session.delete(row)

        return self._write(base, change)

    def _not_backdated(self, announced: set[date | None], new: ModelEntry) -> None:
        """A notice counts from the day it is given: a deprecation set or moved here cannot start in
        the past, or the notice period could be met without any notice. One already announced (by the
        file, or by a stored override) may stay as it is."""
        today = self._today()
        if new.deprecated_at is not None and new.deprecated_at not in announced and (
            new.deprecated_at < today
        ):
            raise OverrideError(
                f"`deprecated_at` {new.deprecated_at} is in the past: a deprecation notice starts when it is "
                f"given, {today} at the earliest.", field="deprecated_at")

    def _write(
        self, base: Catalog, change: Callable[[Session, datetime], None],
        check: Callable[[Catalog], None] | None = None,
    ) -> Catalog:
        now = datetime.now(UTC)
        with Session(self._database) as session, session.begin():
            # First the bump: its row lock (PostgreSQL) or write lock (SQLite) serialises writers.
            session.execute(update(CatalogRevisionRow).where(CatalogRevisionRow.id == 1)
                            .values(revision=CatalogRevisionRow.revision + 1, updated_at=now))
            if session.get(CatalogRevisionRow, 1) is None:
                session.add(CatalogRevisionRow(id=1, revision=1, updated_at=now))
            change(session, now)
            session.flush()
            catalog = apply_overrides(base, _read(session))  # raises when invalid: the rollback undoes all
            if check is not None:
                check(catalog)
            return catalog


def _put_alias(session: Session, alias: str, model_id: str | None, *, now: datetime, actor: str) -> None:
    row = session.get(CatalogAliasOverrideRow, alias)
    if row is None:
        session.add(CatalogAliasOverrideRow(alias=alias, model_id=model_id, updated_at=now, updated_by=actor))
    else:
        row.model_id, row.updated_at, row.updated_by = model_id, now, actor


def _read(session: Session) -> Overrides:
    # The revision is read first: a write landing between the two reads makes the revision look older
    # than the rows, which costs a replica one extra reload, never a missed change.
    revision = session.scalar(select(CatalogRevisionRow.revision)) or 0
    models = {
        row.model_id: ModelOverride(row.model_id, dict(row.fields), _utc(row.updated_at), row.updated_by)
        for row in session.scalars(select(CatalogModelOverrideRow))
    }
    aliases = {
        row.alias: AliasOverride(row.alias, row.model_id, _utc(row.updated_at), row.updated_by)
        for row in session.scalars(select(CatalogAliasOverrideRow))
    }
    return Overrides(revision, models, aliases)


def _day(value: date | str | None) -> date | None:
    """A day as the file has it (a date) or as an override stores it (ISO text)."""
    return date.fromisoformat(value) if isinstance(value, str) else value


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment  # SQLite drops the zone
