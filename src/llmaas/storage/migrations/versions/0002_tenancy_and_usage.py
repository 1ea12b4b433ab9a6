"""Tenants, tiers, per-key limits, and the usage ledger.

Existing keys move to a "default" tenant on the unlimited "custom" tier, so nothing that worked stops.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

EUR = 1_000_000_000
# name, description, monthly cap (EUR), RPM, TPM, output tokens per hour, per day
DEFAULT_TIERS = [
    ("discovery", "Try the platform", 10, 20, 20_000, 50_000, 200_000),
    ("standard", "Production use by one application", 200, 120, 200_000, 1_000_000, 10_000_000),
    ("business", "Several applications, higher throughput", 2_000, 600, 1_000_000, 10_000_000, 100_000_000),
    ("enterprise", "Dedicated capacity; no monthly cap", None, 3_000, 5_000_000, None, None),
    ("custom", "Set by the operator; unlimited until edited", None, None, None, None, None),
]


def upgrade() -> None:
    now = datetime.now(UTC)
    tiers = op.create_table(
        "tiers",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("description", sa.String(500), nullable=False),
        sa.Column("monthly_cap_nano", sa.BigInteger(), nullable=True),
        sa.Column("requests_per_minute", sa.Integer(), nullable=True),
        sa.Column("tokens_per_minute", sa.Integer(), nullable=True),
        sa.Column("output_tokens_per_hour", sa.Integer(), nullable=True),
        sa.Column("output_tokens_per_day", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.bulk_insert(tiers, [
        {"name": name, "description": description,
         "monthly_cap_nano": None if cap is None else cap * EUR, "requests_per_minute": rpm,
         "tokens_per_minute": tpm, "output_tokens_per_hour": per_hour, "output_tokens_per_day": per_day,
         "created_at": now}
        for name, description, cap, rpm, tpm, per_hour, per_day in DEFAULT_TIERS
    ])
    tenants = op.create_table(
        "tenants",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("tier_id", sa.Integer(), sa.ForeignKey("tiers.id"), nullable=False),
        sa.Column("prepaid_credit_nano", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    custom = op.get_bind().execute(sa.text("SELECT id FROM tiers WHERE name = 'custom'")).scalar_one()
    op.bulk_insert(tenants, [{"name": "default", "tier_id": custom, "created_at": now}])
    default = op.get_bind().execute(sa.text("SELECT id FROM tenants WHERE name = 'default'")).scalar_one()

    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("tenant_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("requests_per_minute", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("tokens_per_minute", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("monthly_budget_nano", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("allowed_models", sa.JSON(), nullable=True))
    op.execute(sa.text("UPDATE api_keys SET tenant_id = :tenant").bindparams(tenant=default))
    with op.batch_alter_table("api_keys") as batch:
        batch.alter_column("tenant_id", existing_type=sa.Integer(), nullable=False)
        batch.create_foreign_key("fk_api_keys_tenant", "tenants", ["tenant_id"], ["id"])

    op.create_table(
        "usage_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("request_id", sa.String(128), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False, index=True),
        sa.Column("key_id", sa.Integer(), nullable=False, index=True),
        sa.Column("endpoint", sa.String(64), nullable=False),
        sa.Column("model_requested", sa.String(200), nullable=False),
        sa.Column("model_served", sa.String(200), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("input_tokens", sa.Integer(), nullable=False),
        sa.Column("output_tokens", sa.Integer(), nullable=False),
        sa.Column("audio_seconds", sa.Float(), nullable=False),
        sa.Column("billed_minutes", sa.Integer(), nullable=False),
        sa.Column("documents", sa.Integer(), nullable=False),
        sa.Column("cost_nano", sa.BigInteger(), nullable=False),
        sa.Column("energy_wh", sa.Float(), nullable=False),
        sa.Column("latency_ms", sa.Float(), nullable=False),
    )
    op.create_table(
        "usage_daily",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("day", sa.Date(), nullable=False, index=True),
        sa.Column("tenant_id", sa.Integer(), nullable=False, index=True),
        sa.Column("key_id", sa.Integer(), nullable=False),
        sa.Column("model_served", sa.String(200), nullable=False),
        sa.Column("endpoint", sa.String(64), nullable=False),
        sa.Column("requests", sa.Integer(), nullable=False),
        sa.Column("input_tokens", sa.BigInteger(), nullable=False),
        sa.Column("output_tokens", sa.BigInteger(), nullable=False),
        sa.Column("audio_seconds", sa.Float(), nullable=False),
        sa.Column("billed_minutes", sa.BigInteger(), nullable=False),
        sa.Column("documents", sa.BigInteger(), nullable=False),
        sa.Column("cost_nano", sa.BigInteger(), nullable=False),
        sa.Column("energy_wh", sa.Float(), nullable=False),
        sa.UniqueConstraint("day", "tenant_id", "key_id", "model_served", "endpoint"),
    )


def downgrade() -> None:
    op.drop_table("usage_daily")
    op.drop_table("usage_events")
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_constraint("fk_api_keys_tenant", type_="foreignkey")
        for column in ("allowed_models", "monthly_budget_nano", "tokens_per_minute",
                       "requests_per_minute", "expires_at", "tenant_id"):
            batch.drop_column(column)
    op.drop_table("tenants")
    op.drop_table("tiers")
