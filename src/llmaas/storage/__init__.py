"""Relational state: SQLite by default, PostgreSQL in production, one Alembic-managed schema."""
