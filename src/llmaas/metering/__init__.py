"""Metering: rate limits and budget reservations at admission (see meter.py for the design)."""

from llmaas.metering.memory import MemoryMeter
from llmaas.metering.meter import (
    Admission,
    Budget,
    BudgetUnseeded,
    BudgetUsage,
    Limits,
    LimitState,
    Meter,
    MeterUnavailable,
    QuotaExceeded,
    RateLimited,
    Reservation,
)
from llmaas.metering.redis import RedisMeter

__all__ = [
    "Admission",
    "Budget",
    "BudgetUnseeded",
    "BudgetUsage",
    "LimitState",
    "Limits",
    "MemoryMeter",
    "Meter",
    "MeterUnavailable",
    "QuotaExceeded",
    "RateLimited",
    "RedisMeter",
    "Reservation",
]
