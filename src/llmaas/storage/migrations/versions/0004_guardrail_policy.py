"""The guardrail policy of tiers and keys, and what the guardrail did to each ledger row.

A tier's policy is `off`, `flag` or `block` (existing tiers get `flag`, the default); a key's is
NULL (its tier's) or one of the three. A usage event's `guardrail` is NULL, `flagged` or `blocked`.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-09
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("tiers", sa.Column("guardrail_policy", sa.String(8), nullable=False, server_default="flag"))
    op.add_column("api_keys", sa.Column("guardrail_policy", sa.String(8), nullable=True))
    op.add_column("usage_events", sa.Column("guardrail", sa.String(16), nullable=True))


def downgrade() -> None:
    # Plain ALTER TABLE ... DROP COLUMN (SQLite 3.35+): a batch copy of `tiers` would trip the
    # tenants' foreign key.
    op.drop_column("usage_events", "guardrail")
    op.drop_column("api_keys", "guardrail_policy")
    op.drop_column("tiers", "guardrail_policy")
