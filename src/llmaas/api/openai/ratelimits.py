"""OpenAI's x-ratelimit-* headers, with its duration strings ("12ms", "1.5s", "6m0s")."""

from __future__ import annotations

from llmaas.metering import LimitState
from llmaas.wire.durations import duration


def headers(state: LimitState | None) -> dict[str, str]:
    if state is None:
        return {}
    result = {}
    for kind, limit, remaining, reset in (
        ("requests", state.limit_requests, state.remaining_requests, state.reset_requests_s),
        ("tokens", state.limit_tokens, state.remaining_tokens, state.reset_tokens_s),
    ):
        if limit is None:
            continue  # unlimited: OpenAI sends no header rather than a made-up number
        result[f"x-ratelimit-limit-{kind}"] = str(limit)
        result[f"x-ratelimit-remaining-{kind}"] = str(remaining if remaining is not None else limit)
        result[f"x-ratelimit-reset-{kind}"] = duration(reset or 0.0)
    return result
