"""The operator's catalog overrides: per-model fields and aliases, over the catalog file.

A one-row revision counter, bumped by every write, lets each gateway replica notice a change with one
cheap query.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "catalog_model_overrides",
        sa.Column("model_id", sa.String(200), primary_key=True),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(200), nullable=False),
    )
    op.create_table(
        "catalog_alias_overrides",
        sa.Column("alias", sa.String(200), primary_key=True),
        sa.Column("model_id", sa.String(200), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(200), nullable=False),
    )
    revisions = op.create_table(
        "catalog_revision",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.bulk_insert(revisions, [{"id": 1, "revision": 0, "updated_at": datetime.now(UTC)}])


def downgrade() -> None:
    op.drop_table("catalog_revision")
    op.drop_table("catalog_alias_overrides")
    op.drop_table("catalog_model_overrides")
