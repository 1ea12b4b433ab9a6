"""The audit log: one append-only, hash-chained row per administrative write.

Faces record what an operator asked for and how it ended; the log never stores a secret — callers
pass field names, never values (a key's secret, the admin token, an upstream's api_key).

    audit = AuditLog(database)
    audit.record(actor="cli:ops", source="local", action="tenant.create", target_type="tenant",
                 target="acme", details={"fields": ["tier"]})
    audit.verify()            # Verification(ok=True, rows=1, ...)
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import Engine, false, or_, select, update
from sqlalchemy.orm import Session

from llmaas.audit.chain import GENESIS, canonical, link
from llmaas.errors import InvalidRequest, LlmaasError
from llmaas.observability.text import printable
from llmaas.storage.tables import AuditHeadRow, AuditRow

Outcome = Literal["ok", "refused"]

_TEXT, _ITEMS = 200, 64  # what a row keeps of one text, and of one list or mapping

ADMIN_TOKEN = "admin-token"  # the actor of the admin API: the token names no person
LOCAL = "local"  # the source of the CLI's writes: the machine itself


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    created_at: datetime
    actor: str
    action: str
    target_type: str
    target: str
    source: str
    outcome: str
    error_code: str | None
    details: dict[str, Any] = field(default_factory=dict)
    hash: str = ""


@dataclass
class Draft:
    """The row a write will leave, filled in as the write learns more (a new key's prefix)."""

    actor: str
    source: str
    action: str
    target_type: str
    target: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Verification:
    """The chain checked from its first row: `ok`, or the first row that breaks it and why."""

    ok: bool
    rows: int
    bad_seq: int | None = None
    reason: str = ""


class AuditLog:
    def __init__(self, database: Engine) -> None:
        self._database = database

    def record(
        self, *, actor: str, source: str, action: str, target_type: str, target: str,
        outcome: Outcome = "ok", error_code: str | None = None, details: Mapping[str, Any] | None = None,
    ) -> AuditEntry:
        """Append one row, chained to the last. Blocking: call it off the event loop."""
        facts = _stored(dict(details or {}))
        with Session(self._database) as session, session.begin():
            # The head's update comes first: its row lock (PostgreSQL) or the database's write lock
            # (SQLite) holds other appenders back until this row is committed, so the chain never forks.
            seq, previous = session.execute(
                update(AuditHeadRow).where(AuditHeadRow.id == 1).values(seq=AuditHeadRow.seq + 1)
                .returning(AuditHeadRow.seq, AuditHeadRow.hash)
            ).one()
            content: dict[str, Any] = dict(
                # The time is taken under the lock, so times never run backwards along the chain.
                seq=seq, created_at=datetime.now(UTC), actor=_stored(actor), action=action,
                target_type=target_type, target=_stored(target), source=_stored(source)[:64], outcome=outcome,
                error_code=error_code, details=facts)
            digest = link(previous, canonical(**content))
            session.add(AuditRow(**content, previous_hash=previous, hash=digest))
            session.execute(update(AuditHeadRow).where(AuditHeadRow.id == 1).values(hash=digest))
        return AuditEntry(**content, hash=digest)

    @contextmanager
    def writing(self, draft: Draft) -> Iterator[Draft]:
        """Record the write run in the block: `ok` when it ends, `refused` with the error's code when it
        raises a platform error or a ValueError (which propagates). Blocking.

            with audit.writing(Draft("cli:ops", "local", "key.revoke", "key", prefix)):
                keys.revoke(prefix)
        """
        try:
            yield draft
        except (LlmaasError, ValueError) as error:
            self._record(draft, "refused", _code(error))
            raise
        self._record(draft, "ok", None)

    @asynccontextmanager
    async def awriting(self, draft: Draft) -> AsyncIterator[Draft]:
        """`writing` for a coroutine: the row is written in a worker thread, off the event loop."""
        try:
            yield draft
        except (LlmaasError, ValueError) as error:
            await asyncio.to_thread(self._record, draft, "refused", _code(error))
            raise
        await asyncio.to_thread(self._record, draft, "ok", None)

    def _record(self, draft: Draft, outcome: Outcome, error_code: str | None) -> None:
        self.record(actor=draft.actor, source=draft.source, action=draft.action,
                    target_type=draft.target_type, target=draft.target, outcome=outcome,
                    error_code=error_code, details=draft.details)

    def entries(
        self, *, since: datetime | None = None, action: str | None = None, actor: str | None = None,
        targets: Mapping[str, Sequence[str]] | None = None, limit: int | None = 1000,
    ) -> list[AuditEntry]:
        """The newest rows first. `action` matches itself and the actions under it (`key` finds
        `key.create` and `key.revoke`); `actor` matches exactly; `targets` keeps the rows on those
        targets only, by type (`{"tenant": ["acme"], "key": [its prefixes]}`: one tenant's rows)."""
        query = select(AuditRow).order_by(AuditRow.seq.desc()).limit(limit)
        if since is not None:
            # As UTC: SQLite compares the stored text, which drops the zone.
            query = query.where(AuditRow.created_at >= since.astimezone(UTC))
        if action is not None:
            query = query.where(or_(AuditRow.action == action, AuditRow.action.startswith(f"{action}.",
                                                                                         autoescape=True)))
        if actor is not None:
            query = query.where(AuditRow.actor == actor)
        if targets is not None:
            query = query.where(or_(false(), *(
                (AuditRow.target_type == kind) & AuditRow.target.in_(names)
                for kind, names in targets.items() if names)))
        with Session(self._database) as session:
            return [_entry(row) for row in session.scalars(query)]

    def verify(self) -> Verification:
        """Recompute the chain from the first row: every sequence number present, every row's content
        matching its hash, every hash linked to the one before, and the head on the last row."""
        expected_seq, previous, rows = 1, GENESIS, 0
        with Session(self._database) as session:
            for row in _in_order(session):
                if row.seq != expected_seq:
                    return Verification(False, rows, expected_seq, f"row {expected_seq} is missing")
                if row.previous_hash != previous:
                    return Verification(False, rows, row.seq, "does not link to the row before it")
                if link(previous, canonical(**_content(row))) != row.hash:
                    return Verification(False, rows, row.seq, "its content does not match its hash")
                previous, expected_seq, rows = row.hash, expected_seq + 1, rows + 1
            head = session.get(AuditHeadRow, 1)
        if head is None or head.seq != rows or head.hash != previous:
            missing = rows + 1 if head is not None and head.seq > rows else None
            return Verification(False, rows, missing, "the last rows are missing or the head was changed")
        return Verification(True, rows)



def _stored(value: Any) -> Any:
    """What a row keeps of a value a client may have chosen (a path's name, a body's field names):
    texts printable (PostgreSQL refuses NUL; a terminal obeys escapes) and bounded, lists and mappings too."""
    if isinstance(value, str):
        return printable(value, _TEXT)
    if isinstance(value, list | tuple):
        return [_stored(item) for item in value[:_ITEMS]]
    if isinstance(value, dict):
        return {_stored(str(key)): _stored(item) for key, item in list(value.items())[:_ITEMS]}
    return value

def _code(error: LlmaasError | ValueError) -> str:
    """The refusal's error code; a refusal without one is an invalid request (a bad value, a catalog
    the change would break) unless the error's type says otherwise."""
    if isinstance(error, LlmaasError) and error.code:
        return error.code
    if isinstance(error, (InvalidRequest, ValueError)) or not isinstance(error, LlmaasError):
        return "invalid_request"
    return error.type


def _in_order(session: Session, batch: int = 1000) -> Iterator[AuditRow]:
    """All rows by sequence number, a batch at a time: the log may be long."""
    after = 0
    while True:
        rows: Sequence[AuditRow] = session.scalars(
            select(AuditRow).where(AuditRow.seq > after).order_by(AuditRow.seq).limit(batch)).all()
        yield from rows
        if len(rows) < batch:
            return
        after = rows[-1].seq
        session.expunge_all()


def _content(row: AuditRow) -> dict[str, Any]:
    return dict(seq=row.seq, created_at=row.created_at, actor=row.actor, action=row.action,
                target_type=row.target_type, target=row.target, source=row.source, outcome=row.outcome,
                error_code=row.error_code, details=dict(row.details))


def _entry(row: AuditRow) -> AuditEntry:
    moment = row.created_at.replace(tzinfo=UTC) if row.created_at.tzinfo is None else row.created_at
    return AuditEntry(**{**_content(row), "created_at": moment}, hash=row.hash)
