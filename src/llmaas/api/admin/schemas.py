"""Admin wire models. Euros travel as JSON numbers; the database holds exact nano-euros."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainSerializer, field_validator

from llmaas.guardrails import Policy
from llmaas.observability.text import UNPRINTABLE_IN_TEXT
from llmaas.storage.tables import MAX_RATE
from llmaas.tenancy.money import MAX_EUROS

Euros = Annotated[Decimal, PlainSerializer(float, return_type=float, when_used="json")]

# Bounds that keep what a client sends storable: nano-euros are 64-bit database integers,
# rate limits 32-bit ones, text holds no NUL character (PostgreSQL refuses it), and a grace period must
# end before the calendar does. Past them a request is a 400, not a 500.
MAX_GRACE_S = 10 * 366 * 86_400


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


# SQLite gives back naive datetimes; the platform writes UTC, and the document promises RFC 3339.
Instant = Annotated[datetime, AfterValidator(_utc)]


def _holds_control(value: object) -> bool:
    """NUL (PostgreSQL refuses it), or what would rewrite the operator's terminal or reorder a line as
    displayed when the text is listed there (observability/text.py); tab and line breaks pass."""
    if isinstance(value, str):
        return UNPRINTABLE_IN_TEXT.search(value) is not None
    if isinstance(value, dict):
        return any(_holds_control(key) or _holds_control(item) for key, item in value.items())
    return isinstance(value, list | tuple) and any(_holds_control(item) for item in value)


def _one_line(value: str) -> str:
    if "\n" in value or "\r" in value or "\t" in value:
        raise ValueError("a name is one line")
    return value


# A tier's, a tenant's or a key's name, and a model's in a key's list.
Name = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_one_line)]
Models = Annotated[list[Annotated[str, Field(min_length=1, max_length=256), AfterValidator(_one_line)]],
                   Field(max_length=256)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("*")
    @classmethod
    def _no_control(cls, value: object) -> object:
        if _holds_control(value):
            raise ValueError("a NUL, another control character or a bidirectional override cannot be stored")
        return value


class Public(BaseModel):
    """An answer: what is stored, shown as it is (the inputs above refused what may not be stored)."""

    model_config = ConfigDict(extra="forbid")


class TierLimits(Strict):
    monthly_cap_eur: Euros | None = Field(
        None, ge=0, le=MAX_EUROS, description="Spending cap per calendar month.")
    requests_per_minute: int | None = Field(None, ge=0, le=MAX_RATE)
    tokens_per_minute: int | None = Field(None, ge=0, le=MAX_RATE)
    output_tokens_per_hour: int | None = Field(None, ge=0, le=MAX_RATE)
    output_tokens_per_day: int | None = Field(None, ge=0, le=MAX_RATE)


class TierCreate(TierLimits):
    name: Annotated[Name, Field(max_length=100)]
    description: str = Field("", max_length=500)
    guardrail: Policy = Field(
        Policy.FLAG,
        description="Prompt-injection policy of the tier's keys that have none: off, flag, block.",
    )


class TierUpdate(TierLimits):
    """Fields sent are set (null = unlimited); fields left out keep their value."""

    description: str | None = Field(None, max_length=500, description="Left out or null: unchanged.")
    guardrail: Policy | None = Field(None, description="off, flag or block; left out: unchanged.")


class TierPublic(Public):
    name: str
    description: str
    guardrail: Policy = Field(description="Prompt-injection policy of the tier's keys that have none.")
    monthly_cap_eur: Euros | None = Field(description="Spending cap per calendar month; null: none.")
    requests_per_minute: int | None
    tokens_per_minute: int | None
    output_tokens_per_hour: int | None
    output_tokens_per_day: int | None


class TenantCreate(Strict):
    name: Name
    tier: str
    prepaid_credit_eur: Euros | None = Field(None, ge=0, le=MAX_EUROS)


class TenantUpdate(Strict):
    tier: str | None = None
    prepaid_credit_eur: Euros | None = Field(None, ge=0, le=MAX_EUROS)
    email_domains: list[Annotated[str, Field(max_length=253)]] | None = Field(
        None, max_length=100,
        description="The e-mail domains the tenant's own identity provider may claim (replaces the grant).")


class TenantPublic(Public):
    name: str
    tier: str
    prepaid_credit_eur: Euros | None
    created_at: Instant
    email_domains: list[str] = Field(
        default_factory=list, description="The e-mail domains its identity provider may claim.")


class KeyCreate(Strict):
    name: Name
    tenant: str = "default"
    models: Models | None = Field(None, description="Models the key may use; null for all.")
    requests_per_minute: int | None = Field(None, ge=1, le=MAX_RATE)
    tokens_per_minute: int | None = Field(None, ge=1, le=MAX_RATE)
    monthly_budget_eur: Euros | None = Field(None, ge=0, le=MAX_EUROS)
    expires_at: Instant | None = None
    guardrail: Policy | None = Field(
        None,
        description="The key's own prompt-injection policy (off, flag, block); null: its tier's.",
    )


class KeyUpdate(Strict):
    """Fields sent are set (null: none of the key's own; all its models; no expiry); fields left out
    keep their value. The secret stays the same."""

    name: Name | None = Field(None, description="Left out or null: unchanged.")
    models: Models | None = Field(None, description="Models the key may use; null for all.")
    requests_per_minute: int | None = Field(None, ge=1, le=MAX_RATE)
    tokens_per_minute: int | None = Field(None, ge=1, le=MAX_RATE)
    monthly_budget_eur: Euros | None = Field(None, ge=0, le=MAX_EUROS)
    expires_at: Instant | None = None
    guardrail: Policy | None = Field(None, description="off, flag or block; null: its tier's.")


class KeyPublic(Public):
    prefix: str
    name: str
    tenant: str
    models: list[str] | None
    requests_per_minute: int | None
    tokens_per_minute: int | None
    monthly_budget_eur: Euros | None
    created_at: Instant
    expires_at: Instant | None
    revoked_at: Instant | None
    guardrail: Policy | None = Field(None, description="The key's own guardrail policy; null: its tier's.")


class KeyCreated(KeyPublic):
    secret: str = Field(description="The whole key. Shown once; only its hash is stored.")


class KeyRotate(Strict):
    grace_seconds: int = Field(
        86_400, ge=0, le=MAX_GRACE_S, description="How long the old secret keeps working.")


class UsageGroup(Public):
    group: str
    requests: int
    input_tokens: int
    output_tokens: int
    audio_seconds: float
    billed_minutes: int
    documents: int
    cost_eur: Euros
    energy_wh: float
    guardrail_flagged: int = Field(description="Of the requests, how many the guardrail flagged.")
    guardrail_blocked: int = Field(description="Of the requests, how many the guardrail blocked.")


class UsageReport(Public):
    group_by: str
    data: list[UsageGroup]
    total_cost_eur: Euros


class CatalogOverridePublic(Public):
    fields: dict[str, Any] = Field(description="The overridden fields as stored; upstream keys masked.")
    updated_at: Instant
    updated_by: str


class CatalogModelPublic(Public):
    id: str
    lifecycle_status: str = Field(description="The status today: dates move a model on by themselves.")
    overridden: list[str] = Field(description="Fields the operator's override sets over the file.")
    override: CatalogOverridePublic | None
    entry: dict[str, Any] = Field(description="The entry as served, file and override merged; keys masked.")


class CatalogAliasPublic(Public):
    alias: str
    model: str | None = Field(description="The model it points to; null where an override removed it.")
    source: Literal["file", "override"]
    updated_at: Instant | None = None
    updated_by: str | None = None


class CatalogPublic(Public):
    revision: int | None = Field(description="The overrides' revision this replica serves.")
    models: list[CatalogModelPublic]
    aliases: list[CatalogAliasPublic]


class AliasUpdate(Strict):
    model: str = Field(min_length=1, max_length=200, description="The model id the alias points to.")


class AuditEntryPublic(Public):
    seq: int = Field(description="Position in the hash chain, from 1, without gaps.")
    created_at: Instant
    actor: str = Field(description="`admin-token` for the admin API, `cli:<login>` for the CLI.")
    action: str = Field(description="What was done, e.g. `key.create`, `catalog.override.update`.")
    target_type: str = Field(description="What it was done to: tier, tenant, key, model, alias, catalog.")
    target: str = Field(description="Its name, a key's public prefix, a model id or an alias.")
    source: str = Field(description="The client's address for the admin API, `local` for the CLI.")
    outcome: Literal["ok", "refused"]
    error_code: str | None = Field(description="Why a refused write was refused.")
    details: dict[str, Any] = Field(description="Field names and other facts; never a secret value.")
    hash: str = Field(description="sha256 of the previous row's hash and this row's content.")
