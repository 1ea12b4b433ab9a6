"""API keys are shown once, stored as a sha256 hash, and recognised from an in-memory cache.

A key looks like `sk-llmaas-<8 public chars><40 secret chars>`; the public part is the prefix
listings show, so operators can tell keys apart without ever seeing a secret again.
"""

from __future__ import annotations

import hashlib
import math
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypedDict, Unpack

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from llmaas.errors import AuthenticationFailed, NotFound
from llmaas.guardrails import Policy, resolve
from llmaas.storage.tables import ApiKeyRow, TenantRow, TierRow
from llmaas.tenancy.tenants import DEFAULT_TENANT
from llmaas.tenancy.tiers import Tier

KEY_MARK = "sk-llmaas-"
_PUBLIC_CHARS, _SECRET_CHARS = 8, 40
_KEY_LENGTH = len(KEY_MARK) + _PUBLIC_CHARS + _SECRET_CHARS
_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_CACHE_LIMIT = 100_000  # known keys; on overflow, the cache starts again
# Unknown keys are remembered apart, briefly and in a bounded number, oldest dropped first: a repeated
# wrong key costs no database read, and a flood of made-up keys never evicts the keys of real clients.
_MISS_LIMIT = 10_000
_MISS_TTL_S = 5.0
# Unsalted and fast on purpose: a key holds ~238 random bits (40 of 62 characters), so no guessing
# is left to slow down, and a fast hash keeps the lookup cheap on every request.
KEY_HASH = "sha256"


def key_hashing() -> str:
    """How keys are stored, in words (the sovereignty report quotes it)."""
    bits = int(_SECRET_CHARS * math.log2(len(_ALPHABET)))
    return (f"{KEY_HASH} (unsalted) of each key, {bits} random bits from `secrets`; shown once, only its "
            "hash and display prefix are stored")


@dataclass(frozen=True)
class KeyLimits:
    """The key's own limits; None means the key adds none (its tenant's tier still applies)."""

    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None
    monthly_budget_nano: int | None = None


@dataclass(frozen=True)
class ApiKey:
    """Everything admission needs about the caller, cached with the key."""

    id: int
    name: str
    prefix: str
    tenant_id: int
    tenant: str
    tier: Tier
    limits: KeyLimits
    prepaid_credit_nano: int | None
    allowed_models: frozenset[str] | None
    expires_at: datetime | None
    own_guardrail: Policy | None = None  # None: the tier's

    @property
    def guardrail(self) -> Policy:
        """The guardrail policy this key's requests are screened under: its own, else its tier's."""
        return resolve(key=self.own_guardrail, tier=self.tier.guardrail)

    def may_use(self, model_id: str) -> bool:
        return self.allowed_models is None or model_id in self.allowed_models


@dataclass(frozen=True)
class IssuedKey:
    key: ApiKey
    secret: str  # the only time the full key exists outside the client


@dataclass(frozen=True)
class KeyListing:
    id: int
    name: str
    prefix: str
    tenant: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    limits: KeyLimits
    allowed_models: list[str] | None
    guardrail: Policy | None = None  # the key's own policy; None: its tier's


class KeyChanges(TypedDict, total=False):
    """What `KeyService.update` may change of a key: its row's own settings."""

    name: str
    allowed_models: list[str] | None
    expires_at: datetime | None
    requests_per_minute: int | None
    tokens_per_minute: int | None
    monthly_budget_nano: int | None
    guardrail: Policy | None


def _listing(row: ApiKeyRow, tenant: str) -> KeyListing:
    return KeyListing(row.id, row.name, row.prefix, tenant, row.created_at, _aware(row.expires_at),
                      row.revoked_at,
                      KeyLimits(row.requests_per_minute, row.tokens_per_minute, row.monthly_budget_nano),
                      row.allowed_models, _policy(row.guardrail_policy))


def hash_secret(secret: str) -> str:
    return hashlib.new(KEY_HASH, secret.encode()).hexdigest()


def _well_formed(secret: str) -> bool:
    """Shaped like a key this service issues: anything else is refused without a lookup."""
    return len(secret) == _KEY_LENGTH and secret.startswith(KEY_MARK) and secret.isascii() and (
        secret[len(KEY_MARK):].isalnum())


def _random(length: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def _aware(moment: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; everything we store is UTC.
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


class KeyService:
    def __init__(self, engine: Engine, *, cache_ttl_s: float = 30.0) -> None:
        self._engine = engine
        self._cache_ttl_s = cache_ttl_s
        self._cache: dict[str, tuple[ApiKey, float]] = {}  # hash -> (key, expiry on the monotonic clock)
        self._misses: dict[str, float] = {}  # hash of an unknown key -> expiry
        self._misses_lock = threading.Lock()

    def create(
        self,
        *,
        name: str,
        tenant: str = DEFAULT_TENANT,
        limits: KeyLimits = KeyLimits(),
        allowed_models: list[str] | None = None,
        expires_at: datetime | None = None,
        guardrail: Policy | None = None,
    ) -> IssuedKey:
        prefix = KEY_MARK + _random(_PUBLIC_CHARS)
        secret = prefix + _random(_SECRET_CHARS)
        with Session(self._engine) as session, session.begin():
            tenant_id = session.scalar(select(TenantRow.id).where(TenantRow.name == tenant))
            if tenant_id is None:
                raise NotFound(f"No tenant named {tenant!r}.", param="tenant")
            row = ApiKeyRow(
                name=name, prefix=prefix, secret_hash=hash_secret(secret), tenant_id=tenant_id,
                created_at=datetime.now(UTC), expires_at=expires_at, allowed_models=allowed_models,
                requests_per_minute=limits.requests_per_minute,
                tokens_per_minute=limits.tokens_per_minute,
                monthly_budget_nano=limits.monthly_budget_nano,
                guardrail_policy=None if guardrail is None else Policy(guardrail).value,
            )
            session.add(row)
        key = self._lookup(hash_secret(secret))
        assert key is not None
        return IssuedKey(key=key, secret=secret)

    def rotate(self, prefix: str, *, grace: timedelta) -> IssuedKey:
        """A new secret with the same tenant, limits and models; the old one works for `grace` more."""
        with Session(self._engine) as session, session.begin():
            old = session.scalar(
                select(ApiKeyRow).where(ApiKeyRow.prefix == prefix, ApiKeyRow.revoked_at.is_(None))
            )
            if old is None:
                raise NotFound(f"No active key with prefix {prefix}.", param="prefix")
            tenant = session.scalar(select(TenantRow.name).where(TenantRow.id == old.tenant_id))
            original_end = _aware(old.expires_at)
            grace_end = datetime.now(UTC) + grace
            old.expires_at = grace_end if original_end is None else min(grace_end, original_end)
            name, models, guardrail = old.name, old.allowed_models, _policy(old.guardrail_policy)
            limits = KeyLimits(old.requests_per_minute, old.tokens_per_minute, old.monthly_budget_nano)
        self._forget()
        assert tenant is not None
        return self.create(name=name, tenant=tenant, limits=limits, allowed_models=models,
                           expires_at=original_end, guardrail=guardrail)

    def update(self, prefix: str, **changes: Unpack[KeyChanges]) -> KeyListing:
        """Set what is given of an active key's settings, in one transaction (None: none of its own);
        the secret stays the same. This process forgets its cached keys at once; other gateways within
        their key cache's lifetime."""
        with Session(self._engine) as session, session.begin():
            found = session.execute(
                select(ApiKeyRow, TenantRow.name).join(TenantRow)
                .where(ApiKeyRow.prefix == prefix, ApiKeyRow.revoked_at.is_(None))
            ).first()
            if found is None:
                raise NotFound(f"No active key with prefix {prefix}.", param="prefix")
            row, tenant_name = found
            if "guardrail" in changes:  # stored by its value, as `create` does
                policy = changes.pop("guardrail")
                row.guardrail_policy = None if policy is None else Policy(policy).value
            for field, value in changes.items():  # the rest are the row's own columns
                setattr(row, field, value)
            listing = _listing(row, tenant_name)
        self._forget()
        return listing

    def list(self, *, tenant: str | None = None) -> list[KeyListing]:
        query = select(ApiKeyRow, TenantRow.name).join(TenantRow).order_by(ApiKeyRow.id)
        if tenant is not None:
            query = query.where(TenantRow.name == tenant)
        with Session(self._engine) as session:
            return [_listing(r, tenant_name) for r, tenant_name in session.execute(query).all()]

    def id_of(self, prefix: str) -> int:
        """The id of the key with `prefix`, revoked or not, as the ledger records it (NotFound if none)."""
        with Session(self._engine) as session:
            key_id = session.scalar(select(ApiKeyRow.id).where(ApiKeyRow.prefix == prefix))
        if key_id is None:
            raise NotFound(f"No key with prefix {prefix}.", param="key")
        return key_id

    def prefixes(self) -> dict[int, str]:
        """Every key's prefix by id, revoked keys included: how usage reports name the keys they group."""
        with Session(self._engine) as session:
            return {row.id: row.prefix for row in session.scalars(select(ApiKeyRow))}

    def revoke(self, prefix: str) -> bool:
        with Session(self._engine) as session, session.begin():
            result = session.execute(
                update(ApiKeyRow)
                .where(ApiKeyRow.prefix == prefix, ApiKeyRow.revoked_at.is_(None))
                .values(revoked_at=datetime.now(UTC))
            )
        self._forget()
        return bool(result.rowcount)  # type: ignore[attr-defined]

    def cached(self, secret: str) -> tuple[bool, ApiKey | None]:
        """(hit, key) from memory only, so the hot path can skip a thread hop. A secret that is not
        shaped like a key is a hit for "no such key": it is neither hashed nor looked up."""
        if not _well_formed(secret):
            return True, None
        digest = hash_secret(secret)
        now = time.monotonic()
        entry = self._cache.get(digest)
        if entry is not None and entry[1] >= now:
            return True, _unexpired(entry[0])
        missed = self._misses.get(digest)
        if missed is not None and missed >= now:
            return True, None
        return False, None

    def authenticate(self, secret: str) -> ApiKey:
        """Blocking: may read the database. Call from a worker thread."""
        hit, key = self.cached(secret)
        if not hit:
            key = _unexpired(self._lookup(hash_secret(secret)))
        if key is None:
            raise AuthenticationFailed("Incorrect API key provided.")
        return key

    def _lookup(self, digest: str) -> ApiKey | None:
        query = (
            select(ApiKeyRow, TenantRow, TierRow)
            .join(TenantRow, ApiKeyRow.tenant_id == TenantRow.id)
            .join(TierRow, TenantRow.tier_id == TierRow.id)
            .where(ApiKeyRow.secret_hash == digest, ApiKeyRow.revoked_at.is_(None))
        )
        with Session(self._engine) as session:
            found = session.execute(query).first()
            key = None if found is None else _api_key(*found)
        now = time.monotonic()
        if key is None:
            with self._misses_lock:  # lookups run in worker threads
                self._misses.pop(digest, None)  # re-inserted last: the oldest entry is always first
                while len(self._misses) >= _MISS_LIMIT:
                    del self._misses[next(iter(self._misses))]
                self._misses[digest] = now + min(self._cache_ttl_s, _MISS_TTL_S)
            return None
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[digest] = (key, now + self._cache_ttl_s)
        return key

    def _forget(self) -> None:
        self._cache.clear()
        with self._misses_lock:
            self._misses.clear()


def _api_key(row: ApiKeyRow, tenant: TenantRow, tier: TierRow) -> ApiKey:
    return ApiKey(
        id=row.id, name=row.name, prefix=row.prefix, tenant_id=tenant.id, tenant=tenant.name,
        tier=Tier.of(tier),
        limits=KeyLimits(row.requests_per_minute, row.tokens_per_minute, row.monthly_budget_nano),
        prepaid_credit_nano=tenant.prepaid_credit_nano,
        allowed_models=None if row.allowed_models is None else frozenset(row.allowed_models),
        expires_at=_aware(row.expires_at), own_guardrail=_policy(row.guardrail_policy),
    )


def _policy(value: str | None) -> Policy | None:
    return None if value is None else Policy(value)


def _unexpired(key: ApiKey | None) -> ApiKey | None:
    if key is not None and key.expires_at is not None and key.expires_at <= datetime.now(UTC):
        return None
    return key


__all__ = ["ApiKey", "IssuedKey", "KeyLimits", "KeyListing", "KeyService"]
