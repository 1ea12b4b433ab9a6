"""Tenants keep the e-mail domains the operator granted them: the only ones their own identity
provider may claim. Providers connected before keep theirs: their domains become the grant.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("tenants", sa.Column("email_domains", sa.JSON(), nullable=False,
                                       server_default=sa.text("'[]'")))
    tenants = sa.table("tenants", sa.column("id", sa.Integer()), sa.column("email_domains", sa.JSON()))
    providers = sa.table("console_identity_providers", sa.column("tenant_id", sa.Integer()),
                         sa.column("email_domains", sa.JSON()))
    connection = op.get_bind()
    for tenant_id, domains in connection.execute(sa.select(providers.c.tenant_id, providers.c.email_domains)):
        connection.execute(sa.update(tenants).where(tenants.c.id == tenant_id).values(email_domains=domains))


def downgrade() -> None:
    op.drop_column("tenants", "email_domains")
