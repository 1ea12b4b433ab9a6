"""Euros as integer nano-euros: exact in every database and every sum."""

from __future__ import annotations

from decimal import Decimal

NANO_PER_EUR = 1_000_000_000
# The largest amount a cap, a budget or a credit may be: its nano-euros fit the 64-bit database columns
# (and the meter's exact integers, under 2**53) with room for sums.
MAX_EUROS = Decimal(9_000_000_000)


def to_nano(eur: Decimal | float | str | None) -> int | None:
    if eur is None:
        return None
    return int((Decimal(str(eur)) * NANO_PER_EUR).to_integral_value())


def to_eur(nano: int | None) -> Decimal | None:
    return None if nano is None else Decimal(nano) / NANO_PER_EUR


def eur_number(nano: int) -> float:
    """Euros as a JSON number, for API bodies (the ledger keeps the exact integer)."""
    return float(Decimal(nano) / NANO_PER_EUR)


def format_eur(nano: int | None) -> str:
    if nano is None:
        return "unlimited"
    return f"{Decimal(nano) / NANO_PER_EUR:.2f} €"
