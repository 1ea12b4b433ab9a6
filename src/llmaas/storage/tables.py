"""Table models. These are storage, not API: wire models live in api/, and a column rename never
changes what clients see. Money is integer nano-euros (1 EUR = 10**9): exact on every database."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Date, DateTime, Float, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Rate limits (tiers' and keys') are 32-bit integer columns: what writes them bounds them here.
MAX_RATE = 2**31 - 1


class Base(DeclarativeBase):
    pass


class TierRow(Base):
    """A plan: spending cap and throughput limits; NULL means unlimited."""

    __tablename__ = "tiers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str] = mapped_column(String(500), default="")
    monthly_cap_nano: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    requests_per_minute: Mapped[int | None] = mapped_column(Integer, nullable=True)
    tokens_per_minute: Mapped[int | None] = mapped_column(Integer, nullable=True)
    output_tokens_per_hour: Mapped[int | None] = mapped_column(Integer, nullable=True)
    output_tokens_per_day: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # What the guardrail does with a prompt injection: off, flag or block (guardrails/policy.py).
    guardrail_policy: Mapped[str] = mapped_column(String(8), default="flag", server_default="flag")


class TenantRow(Base):
    """A customer organisation. Users are unlimited: there is no seat anywhere."""

    __tablename__ = "tenants"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    tier_id: Mapped[int] = mapped_column(ForeignKey("tiers.id"))
    # Prepaid credit granted in total; NULL for a tenant billed after use.
    prepaid_credit_nano: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # The e-mail domains the operator granted: the only ones the tenant's own provider may claim.
    email_domains: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")


class ApiKeyRow(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    name: Mapped[str] = mapped_column(String(200))
    # The public, non-secret start of the key, shown in listings to tell keys apart.
    prefix: Mapped[str] = mapped_column(String(32), unique=True)
    # sha256 of the whole key: keys are 256-bit random, so a fast hash is enough and keeps lookups cheap.
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # The key's own limits; NULL inherits the tenant's tier (or, for the budget, none of its own).
    requests_per_minute: Mapped[int | None] = mapped_column(Integer, nullable=True)
    tokens_per_minute: Mapped[int | None] = mapped_column(Integer, nullable=True)
    monthly_budget_nano: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    allowed_models: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    # NULL: the tier's guardrail policy; else off, flag or block, which wins over the tier's.
    guardrail_policy: Mapped[str | None] = mapped_column(String(8), nullable=True)


class UsageEventRow(Base):
    """One answered request, metadata only: never a prompt, an answer, audio or an image."""

    __tablename__ = "usage_events"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    request_id: Mapped[str] = mapped_column(String(128))
    tenant_id: Mapped[int] = mapped_column(Integer, index=True)
    key_id: Mapped[int] = mapped_column(Integer, index=True)
    endpoint: Mapped[str] = mapped_column(String(64))
    model_requested: Mapped[str] = mapped_column(String(200))
    model_served: Mapped[str] = mapped_column(String(200))
    status: Mapped[int] = mapped_column(Integer)
    input_tokens: Mapped[int] = mapped_column(Integer, default=0)
    output_tokens: Mapped[int] = mapped_column(Integer, default=0)
    audio_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    billed_minutes: Mapped[int] = mapped_column(Integer, default=0)
    documents: Mapped[int] = mapped_column(Integer, default=0)
    cost_nano: Mapped[int] = mapped_column(BigInteger, default=0)
    energy_wh: Mapped[float] = mapped_column(Float, default=0.0)
    latency_ms: Mapped[float] = mapped_column(Float, default=0.0)
    # NULL when the guardrail let the prompt through unmarked (or did not screen it); flagged; blocked.
    guardrail: Mapped[str | None] = mapped_column(String(16), nullable=True)


class UsageDailyRow(Base):
    """Raw events roll up into one row per day, tenant, key and model, so the ledger stays small."""

    __tablename__ = "usage_daily"
    __table_args__ = (UniqueConstraint("day", "tenant_id", "key_id", "model_served", "endpoint"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    day: Mapped[date] = mapped_column(Date, index=True)
    tenant_id: Mapped[int] = mapped_column(Integer, index=True)
    key_id: Mapped[int] = mapped_column(Integer)
    model_served: Mapped[str] = mapped_column(String(200))
    endpoint: Mapped[str] = mapped_column(String(64))
    requests: Mapped[int] = mapped_column(Integer, default=0)
    input_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    output_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    audio_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    billed_minutes: Mapped[int] = mapped_column(BigInteger, default=0)
    documents: Mapped[int] = mapped_column(BigInteger, default=0)
    cost_nano: Mapped[int] = mapped_column(BigInteger, default=0)
    energy_wh: Mapped[float] = mapped_column(Float, default=0.0)
    # How many of the day's requests the guardrail flagged or blocked (the raw rows' `guardrail`).
    guardrail_flagged: Mapped[int] = mapped_column(BigInteger, default=0)
    guardrail_blocked: Mapped[int] = mapped_column(BigInteger, default=0)


class CatalogModelOverrideRow(Base):
    """The operator's fields over one model of the catalog file (JSON, as written; never `id` or `engine`)."""

    __tablename__ = "catalog_model_overrides"

    model_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    fields: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_by: Mapped[str] = mapped_column(String(200))


class CatalogAliasOverrideRow(Base):
    """An alias set by the operator; a NULL model removes the catalog file's alias of that name."""

    __tablename__ = "catalog_alias_overrides"

    alias: Mapped[str] = mapped_column(String(200), primary_key=True)
    model_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_by: Mapped[str] = mapped_column(String(200))


class CatalogRevisionRow(Base):
    """One row, bumped by every override write: replicas poll it to notice a change cheaply."""

    __tablename__ = "catalog_revision"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    revision: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AuditRow(Base):
    """One administrative write, appended and never changed: who, what, on what, from where, when, how
    it ended. `hash` chains it to the row before (audit/chain.py), so an edit or a deletion shows."""

    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                     autoincrement=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    actor: Mapped[str] = mapped_column(String(200), index=True)
    action: Mapped[str] = mapped_column(String(64), index=True)
    target_type: Mapped[str] = mapped_column(String(32))
    target: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(8))
    error_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # Field names and other non-secret facts (a rotated key's new prefix); never a value that may be secret.
    details: Mapped[dict[str, Any]] = mapped_column(JSON)
    previous_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHeadRow(Base):
    """One row: the chain's last sequence number and hash. Appending updates it first, so its row lock
    (PostgreSQL) or the write lock (SQLite) lets one writer extend the chain at a time."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))


class HealthMinuteRow(Base):
    """One minute of one model as one gateway replica saw it: how many health probes found it up, and
    how its streamed answers went (status/). Counts only, never content. Each replica writes its own
    rows, so replicas never contend; readers sum them per minute."""

    __tablename__ = "health_minutes"
    __table_args__ = (UniqueConstraint("minute", "model", "replica"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    minute: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    model: Mapped[str] = mapped_column(String(200))
    replica: Mapped[str] = mapped_column(String(32))
    probes: Mapped[int] = mapped_column(Integer, default=0)
    probes_up: Mapped[int] = mapped_column(Integer, default=0)
    streams: Mapped[int] = mapped_column(Integer, default=0)
    # Time to first token as a histogram: {bucket index: streams} (status/minutes.py has the buckets).
    ttft_buckets: Mapped[dict[str, int]] = mapped_column(JSON)
    # Speed after the first token: the tokens that followed it, and the seconds they took, summed.
    decode_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    decode_s: Mapped[float] = mapped_column(Float, default=0.0)


class ConsoleIdentityProviderRow(Base):
    """A tenant's own OpenID Connect provider, which its people sign in to the console through. The
    client secret is stored to exchange codes with; it is never shown back, logged or audited."""

    __tablename__ = "console_identity_providers"

    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    issuer: Mapped[str] = mapped_column(String(500))
    client_id: Mapped[str] = mapped_column(String(200))
    client_secret: Mapped[str] = mapped_column(String(500))
    email_domains: Mapped[list[str]] = mapped_column(JSON)
    groups_claim: Mapped[str] = mapped_column(String(100))
    admin_groups: Mapped[list[str]] = mapped_column(JSON)
    viewer_groups: Mapped[list[str]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ConsoleSessionRow(Base):
    """A signed-in person's console session: found by the sha256 of its cookie, revocable, with an
    idle and an absolute end. A NULL tenant is the operator's staff."""

    __tablename__ = "console_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str] = mapped_column(String(320))
    role: Mapped[str] = mapped_column(String(16))
    tenant_id: Mapped[int | None] = mapped_column(ForeignKey("tenants.id"), nullable=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # Where the provider ends its own session on logout, when it offers that.
    logout_url: Mapped[str | None] = mapped_column(String(2000), nullable=True)


class ConsoleLoginRow(Base):
    """A sign-in under way, used once: an OpenID Connect redirect waiting for its code (`oidc`, with its
    PKCE verifier and nonce) or a break-glass link (`link`). Found by the sha256 of its token."""

    __tablename__ = "console_logins"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
    tenant_id: Mapped[int | None] = mapped_column(ForeignKey("tenants.id"), nullable=True)
    code_verifier: Mapped[str | None] = mapped_column(String(128), nullable=True)
    nonce: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


def row_dict(row: Any) -> dict[str, Any]:
    return {column.key: getattr(row, column.key) for column in row.__table__.columns}
