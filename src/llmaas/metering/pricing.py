"""What a request costs, in nano-euros, from the catalog's prices and the usage it reported."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from llmaas.catalog import ModelEntry


@dataclass(frozen=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    audio_seconds: float = 0.0
    documents: int = 0

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    @classmethod
    def reported(cls, usage: dict[str, Any] | None) -> Usage:
        """The tokens an engine's OpenAI `usage` object counts (absent counts are 0)."""
        usage = usage or {}
        return cls(int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0))


def billed_minutes(audio_seconds: float) -> int:
    """Every started minute is billed: 61 seconds are 2 minutes."""
    return math.ceil(audio_seconds / 60) if audio_seconds > 0 else 0


def cost_nano(entry: ModelEntry, usage: Usage) -> int:
    """Rounded half up to the nano-euro, in integers: the hot path prices every request twice."""
    per_million_input, per_million_output, per_minute, per_thousand_documents = entry.pricing.nano
    millionths = (
        usage.input_tokens * per_million_input
        + usage.output_tokens * per_million_output
        + billed_minutes(usage.audio_seconds) * per_minute * 1_000_000
        + usage.documents * per_thousand_documents * 1_000
    )
    return (millionths + 500_000) // 1_000_000


def energy_wh(entry: ModelEntry, usage: Usage) -> float:
    # kWh per million tokens is Wh per thousand tokens.
    return entry.energy_kwh_per_million_tokens * usage.tokens / 1_000
