from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from llmaas.catalog import ModelEntry, Pricing, Upstream
from llmaas.metering.pricing import Usage, billed_minutes, cost_nano, energy_wh


def entry(**prices: str) -> ModelEntry:
    return ModelEntry(id="m", family="f", owned_by="o", capabilities=["chat"], context_length=8,
                      license="MIT", upstreams=[Upstream(url="http://x/v1")],
                      pricing=Pricing(**{k: Decimal(v) for k, v in prices.items()}),
                      energy_kwh_per_million_tokens=0.5)


@pytest.mark.parametrize(("seconds", "minutes"), [(0, 0), (0.1, 1), (60, 1), (61, 2), (3599.9, 60)])
def test_every_started_minute_is_billed(seconds: float, minutes: int) -> None:
    assert billed_minutes(seconds) == minutes


def test_token_prices_are_exact_in_nano_euros() -> None:
    model = entry(input_per_million_tokens="1.8", output_per_million_tokens="8")
    # 1.8 EUR per million input tokens is 1,800 nano-euros per token; 8 EUR is 8,000.
    assert cost_nano(model, Usage(input_tokens=1000, output_tokens=500)) == 1000 * 1800 + 500 * 8000
    assert cost_nano(model, Usage()) == 0


def test_fractions_of_a_nano_euro_round_half_up() -> None:
    model = entry(input_per_million_tokens="0.0000015", output_per_million_tokens="0.000123456")
    # 0.0015 nano-euros per input token; 0.123456 per output token.
    assert cost_nano(model, Usage(input_tokens=333)) == 0  # 0.4995
    assert cost_nano(model, Usage(input_tokens=334)) == 1  # 0.501
    assert cost_nano(model, Usage(output_tokens=4)) == 0  # 0.493824
    assert cost_nano(model, Usage(output_tokens=5)) == 1  # 0.61728
    assert cost_nano(model, Usage(input_tokens=10**12, output_tokens=10**9)) == 1_500_000_000 + 123_456_000


def test_prices_finer_than_a_nano_euro_are_refused() -> None:
    with pytest.raises(ValidationError, match="input_per_million_tokens"):
        Pricing(input_per_million_tokens=Decimal("0.0000000001"))


def test_audio_and_documents() -> None:
    model = entry(per_audio_minute="0.01", per_thousand_documents="2")
    assert cost_nano(model, Usage(audio_seconds=61)) == 2 * 10_000_000
    assert cost_nano(model, Usage(documents=3)) == 6_000_000


def test_energy_estimate() -> None:
    assert energy_wh(entry(), Usage(input_tokens=600, output_tokens=400)) == pytest.approx(0.5)


def test_reported_usage_reads_openai_counts_and_treats_absent_ones_as_zero() -> None:
    assert Usage.reported({"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}) == Usage(7, 3)
    assert Usage.reported({"prompt_tokens": 5}) == Usage(5, 0)
    assert Usage.reported(None) == Usage()
