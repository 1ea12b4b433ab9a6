"""Per-minute health and speed of each model, per gateway replica, for the public status page.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "health_minutes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("minute", sa.DateTime(timezone=True), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("replica", sa.String(32), nullable=False),
        sa.Column("probes", sa.Integer(), nullable=False),
        sa.Column("probes_up", sa.Integer(), nullable=False),
        sa.Column("streams", sa.Integer(), nullable=False),
        sa.Column("ttft_buckets", sa.JSON(), nullable=False),
        sa.Column("decode_tokens", sa.BigInteger(), nullable=False),
        sa.Column("decode_s", sa.Float(), nullable=False),
        sa.UniqueConstraint("minute", "model", "replica"),
    )
    op.create_index("ix_health_minutes_minute", "health_minutes", ["minute"])


def downgrade() -> None:
    op.drop_index("ix_health_minutes_minute", "health_minutes")
    op.drop_table("health_minutes")
