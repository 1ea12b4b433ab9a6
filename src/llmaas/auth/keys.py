"""API keys are shown once, stored as a sha256 hash, and recognised from an in-memory cache.

A key looks like `sk-llmaas-<8 public chars><40 secret chars>`; the public part is the prefix
listings show, so operators can tell keys apart without ever seeing a secret again.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from llmaas.errors import AuthenticationFailed
from llmaas.storage.tables import ApiKeyRow

KEY_MARK = "sk-llmaas-"
_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


@dataclass(frozen=True)
class ApiKey:
    """What the gateway knows about the caller once the key is recognised."""

    id: int
    name: str
    prefix: str


@dataclass(frozen=True)
class IssuedKey:
    key: ApiKey
    secret: str  # the only time the full key exists outside the client


@dataclass(frozen=True)
class KeyListing:
    id: int
    name: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _random(length: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


class KeyService:
    def __init__(self, engine: Engine, *, cache_ttl_s: float = 30.0) -> None:
        self._engine = engine
        self._cache_ttl_s = cache_ttl_s
        # hash -> (key, or None for "no such key", expiry on the monotonic clock)
        self._cache: dict[str, tuple[ApiKey | None, float]] = {}

    def create(self, *, name: str) -> IssuedKey:
        prefix = KEY_MARK + _random(8)
        secret = prefix + _random(40)
        row = ApiKeyRow(
            name=name, prefix=prefix, secret_hash=hash_secret(secret), created_at=datetime.now(UTC)
        )
        with Session(self._engine) as session, session.begin():
            session.add(row)
            session.flush()
            key = ApiKey(id=row.id, name=row.name, prefix=row.prefix)
        return IssuedKey(key=key, secret=secret)

    def list(self) -> list[KeyListing]:
        with Session(self._engine) as session:
            rows = session.scalars(select(ApiKeyRow).order_by(ApiKeyRow.id)).all()
            return [KeyListing(r.id, r.name, r.prefix, r.created_at, r.revoked_at) for r in rows]

    def revoke(self, prefix: str) -> bool:
        with Session(self._engine) as session, session.begin():
            result = session.execute(
                update(ApiKeyRow)
                .where(ApiKeyRow.prefix == prefix, ApiKeyRow.revoked_at.is_(None))
                .values(revoked_at=datetime.now(UTC))
            )
        self._cache.clear()
        return bool(result.rowcount)  # type: ignore[attr-defined]

    def cached(self, secret: str) -> tuple[bool, ApiKey | None]:
        """(hit, key) from memory only, so the hot path can skip a thread hop."""
        entry = self._cache.get(hash_secret(secret))
        if entry is None or entry[1] < time.monotonic():
            return False, None
        return True, entry[0]

    def authenticate(self, secret: str) -> ApiKey:
        """Blocking: may read the database. Call from a worker thread."""
        hit, key = self.cached(secret)
        if not hit:
            key = self._lookup(hash_secret(secret))
        if key is None:
            raise AuthenticationFailed("Incorrect API key provided.")
        return key

    def _lookup(self, digest: str) -> ApiKey | None:
        with Session(self._engine) as session:
            row = session.scalar(
                select(ApiKeyRow).where(
                    ApiKeyRow.secret_hash == digest, ApiKeyRow.revoked_at.is_(None)
                )
            )
            key = None if row is None else ApiKey(id=row.id, name=row.name, prefix=row.prefix)
        # Unknown keys are cached too, so a client hammering with a bad key cannot hammer the database.
        self._cache[digest] = (key, time.monotonic() + self._cache_ttl_s)
        return key
