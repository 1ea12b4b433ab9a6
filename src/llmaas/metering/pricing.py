"""What a request costs, in nano-euros, from the catalog's prices and the usage it reported."""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from llmaas.catalog import ModelEntry
from llmaas.tenancy.money import NANO_PER_EUR


@dataclass(frozen=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    audio_seconds: float = 0.0
    documents: int = 0

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens


def billed_minutes(audio_seconds: float) -> int:
    """Every started minute is billed: 61 seconds are 2 minutes."""
    return math.ceil(audio_seconds / 60) if audio_seconds > 0 else 0


def cost_nano(entry: ModelEntry, usage: Usage) -> int:
    prices = entry.pricing
    euros = (
        Decimal(usage.input_tokens) * prices.input_per_million_tokens / 1_000_000
        + Decimal(usage.output_tokens) * prices.output_per_million_tokens / 1_000_000
        + Decimal(billed_minutes(usage.audio_seconds)) * prices.per_audio_minute
        + Decimal(usage.documents) * prices.per_thousand_documents / 1_000
    )
    return int((euros * NANO_PER_EUR).to_integral_value(ROUND_HALF_UP))


def energy_wh(entry: ModelEntry, usage: Usage) -> float:
    # kWh per million tokens is Wh per thousand tokens.
    return entry.energy_kwh_per_million_tokens * usage.tokens / 1_000
