"""OpenAI's duration strings, as its x-ratelimit-reset-* headers and rate-limit messages write them."""

from __future__ import annotations

import pytest

from llmaas.wire.durations import duration


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.0, "0ms"),
        (-0.5, "0ms"),
        (0.012, "12ms"),
        (0.9994, "999ms"),
        (1.0, "1s"),
        (1.5, "1.5s"),
        (1.234, "1.234s"),
        (20.0, "20s"),
        (60.0, "1m0s"),
        (61.5, "1m1.5s"),
        (360.0, "6m0s"),
        (2160.0, "36m0s"),
        (7500.25, "2h5m0.25s"),
        (17280.0, "4h48m0s"),
    ],
)
def test_duration(seconds: float, text: str) -> None:
    assert duration(seconds) == text
