"""Console sessions and sign-ins under way, in the database.

A session's cookie holds a random token; the database keeps only its sha256, so a copy of the
database opens no session. Sign-ins under way (an OpenID Connect redirect, a break-glass link) are
rows used once: taking one deletes it.

    store = SessionStore(database, idle=timedelta(minutes=30), lifetime=timedelta(hours=12))
    token = store.open(email="ada@acme.test", role=Role.TENANT_ADMIN, tenant_id=3)
    principal = store.find(token)     # None once revoked, idle too long or past its end
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, delete, select, update
from sqlalchemy.orm import Session

from llmaas.console.roles import Principal, Role
from llmaas.storage.tables import ConsoleLoginRow, ConsoleSessionRow, TenantRow


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment  # SQLite drops the zone


@dataclass(frozen=True)
class PendingLogin:
    """A sign-in under way, taken from the database (so never taken twice)."""

    kind: str
    tenant_id: int | None
    code_verifier: str | None
    nonce: str | None


class SessionStore:
    def __init__(self, database: Engine, *, idle: timedelta, lifetime: timedelta) -> None:
        self._database = database
        self._idle = idle
        self._lifetime = lifetime

    def open(self, *, email: str, role: Role, tenant_id: int | None, logout_url: str | None = None) -> str:
        """A new session; returns the token for the cookie (the only place it exists)."""
        token, now = secrets.token_urlsafe(32), datetime.now(UTC)
        with Session(self._database) as session, session.begin():
            # Ended sessions are of no more use: each sign-in sweeps them (revoked ones once they end).
            session.execute(delete(ConsoleSessionRow).where(ConsoleSessionRow.expires_at < now))
            session.add(ConsoleSessionRow(
                token_hash=digest(token), email=email[:320], role=role.value, tenant_id=tenant_id,
                csrf_token=secrets.token_urlsafe(32), created_at=now, last_seen_at=now,
                expires_at=now + self._lifetime, logout_url=logout_url))
        return token

    def find(self, token: str) -> Principal | None:
        """The session's person, or None when it is unknown, revoked, idle too long or past its end;
        a found session's idle clock starts again."""
        now = datetime.now(UTC)
        with Session(self._database) as session, session.begin():
            found = session.execute(
                select(ConsoleSessionRow, TenantRow.name)
                .outerjoin(TenantRow, ConsoleSessionRow.tenant_id == TenantRow.id)
                .where(ConsoleSessionRow.token_hash == digest(token))).first()
            if found is None:
                return None
            row, tenant = found
            if (row.revoked_at is not None or _aware(row.expires_at) <= now
                    or _aware(row.last_seen_at) + self._idle <= now):
                return None
            row.last_seen_at = now
            return Principal(row.id, row.email, Role(row.role), row.tenant_id, tenant, row.csrf_token)

    def logout_url(self, session_id: int) -> str | None:
        with Session(self._database) as session:
            return session.scalar(
                select(ConsoleSessionRow.logout_url).where(ConsoleSessionRow.id == session_id))

    def revoke(self, session_id: int) -> None:
        with Session(self._database) as session, session.begin():
            session.execute(update(ConsoleSessionRow).where(ConsoleSessionRow.id == session_id)
                            .values(revoked_at=datetime.now(UTC)))

    def expire(self, session_id: int) -> None:
        """Move the session's end to now (tests, and an operator cutting a session short)."""
        with Session(self._database) as session, session.begin():
            session.execute(update(ConsoleSessionRow).where(ConsoleSessionRow.id == session_id)
                            .values(expires_at=datetime.now(UTC)))

    def begin_login(self, *, kind: str, tenant_id: int | None, valid: timedelta,
                    code_verifier: str | None = None, nonce: str | None = None) -> str:
        """Remember a sign-in under way; returns its one-time token (an OAuth `state` or a link's)."""
        token, now = secrets.token_urlsafe(32), datetime.now(UTC)
        with Session(self._database) as session, session.begin():
            session.execute(delete(ConsoleLoginRow).where(ConsoleLoginRow.expires_at < now))
            session.add(ConsoleLoginRow(token_hash=digest(token), kind=kind, tenant_id=tenant_id,
                                        code_verifier=code_verifier, nonce=nonce, created_at=now,
                                        expires_at=now + valid))
        return token

    def take_login(self, token: str, *, kind: str) -> PendingLogin | None:
        """The sign-in of `token`, deleted as it is read (None when unknown, used or expired)."""
        with Session(self._database) as session, session.begin():
            row = session.get(ConsoleLoginRow, digest(token))
            if row is None:
                return None
            session.delete(row)  # a token shown at the wrong door is spent too
            if row.kind != kind or _aware(row.expires_at) <= datetime.now(UTC):
                return None
            return PendingLogin(row.kind, row.tenant_id, row.code_verifier, row.nonce)
