"""Tiers: the plans tenants are on. Four defaults plus "custom" ship in the first migration."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from llmaas.errors import Conflict, NotFound
from llmaas.guardrails import DEFAULT_POLICY, Policy
from llmaas.storage.tables import TierRow


@dataclass(frozen=True)
class Tier:
    id: int
    name: str
    description: str
    monthly_cap_nano: int | None
    requests_per_minute: int | None
    tokens_per_minute: int | None
    output_tokens_per_hour: int | None
    output_tokens_per_day: int | None
    guardrail: Policy = DEFAULT_POLICY

    @classmethod
    def of(cls, row: TierRow) -> Tier:
        return cls(row.id, row.name, row.description, row.monthly_cap_nano, row.requests_per_minute,
                   row.tokens_per_minute, row.output_tokens_per_hour, row.output_tokens_per_day,
                   Policy(row.guardrail_policy or DEFAULT_POLICY))


LIMIT_FIELDS = ("monthly_cap_nano", "requests_per_minute", "tokens_per_minute",
                "output_tokens_per_hour", "output_tokens_per_day")


class TierService:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def list(self) -> list[Tier]:
        with Session(self._engine) as session:
            return [Tier.of(row) for row in session.scalars(select(TierRow).order_by(TierRow.id))]

    def get(self, name: str) -> Tier:
        with Session(self._engine) as session:
            row = session.scalar(select(TierRow).where(TierRow.name == name))
            if row is None:
                raise NotFound(f"No tier named {name!r}.", param="tier")
            return Tier.of(row)

    def create(self, *, name: str, description: str = "", guardrail: Policy = DEFAULT_POLICY,
               **limits: int | None) -> Tier:
        _check_limits(limits)
        with Session(self._engine) as session, session.begin():
            if session.scalar(select(TierRow.id).where(TierRow.name == name)) is not None:
                raise Conflict(f"A tier named {name!r} exists already.", param="name")
            row = TierRow(name=name, description=description, created_at=datetime.now(UTC),
                          guardrail_policy=Policy(guardrail).value, **limits)
            session.add(row)
            session.flush()
            return Tier.of(row)

    def update(self, name: str, *, guardrail: Policy | None = None, **changes: int | str | None) -> Tier:
        """Set the given fields; a limit set to None becomes unlimited; `guardrail` set if given."""
        _check_limits({k: v for k, v in changes.items() if k in LIMIT_FIELDS})
        if guardrail is not None:
            changes["guardrail_policy"] = Policy(guardrail).value
        with Session(self._engine) as session, session.begin():
            row = session.scalar(select(TierRow).where(TierRow.name == name))
            if row is None:
                raise NotFound(f"No tier named {name!r}.", param="tier")
            for field, value in changes.items():
                setattr(row, field, value)
            return Tier.of(row)


def _check_limits(limits: Mapping[str, object]) -> None:
    for field, value in limits.items():
        if field not in LIMIT_FIELDS:
            raise TypeError(f"unknown tier field {field}")
        if value is not None and (not isinstance(value, int) or value < 0):
            raise ValueError(f"{field} must be a non-negative integer or None")
