"""Table models. These are storage, not API: wire models live in api/, and a column rename never
changes what clients see."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Integer, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class ApiKeyRow(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # The public, non-secret start of the key, shown in listings to tell keys apart.
    prefix: Mapped[str] = mapped_column(String(32), unique=True)
    # sha256 of the whole key: keys are 256-bit random, so a fast hash is enough and keeps lookups cheap.
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
