"""Daily usage rows keep the guardrail's verdicts: how many requests it flagged and blocked.

The raw rows' `guardrail` field is deleted with them by the roll-up; these counts are what is left.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("usage_daily", sa.Column("guardrail_flagged", sa.BigInteger(), nullable=False,
                                           server_default="0"))
    op.add_column("usage_daily", sa.Column("guardrail_blocked", sa.BigInteger(), nullable=False,
                                           server_default="0"))


def downgrade() -> None:
    op.drop_column("usage_daily", "guardrail_blocked")
    op.drop_column("usage_daily", "guardrail_flagged")
