"""Generation answers in OpenAI's exact shape, without what only the engine should know.

Engines add their own internals to OpenAI's bodies: llama.cpp's `timings` (and `__verbose` when run
with -v, which repeats the prompt), a `system_fingerprint` naming the engine's build, and
`usage.prompt_tokens_details.cached_tokens`, which tells whether another request shared the prompt's
beginning: across tenants, that leaks. Clients get none of it: no timings, one fingerprint for every
engine and build (`PLATFORM_FINGERPRINT`: OpenAI's schema wants a string, not null), a cached count
of 0. And OpenAI's schema requires `logprobs` on each choice and `refusal` on each chat message, as
null when unused.

The stream relay (streams.py) calls `scrub` only on the few events that carry such keys, and replaces
the fingerprint in the bytes it relays (`FINGERPRINT`); JSON answers get `scrub` and `complete`.
"""

from __future__ import annotations

import re
from typing import Any

ENGINE_KEYS = ("timings", "__verbose")
# An event holding one of these is parsed and scrubbed: one search, cheaper than three `in`s.
MARKERS = re.compile(rb'"(?:usage|timings|__verbose)"')
# Replaced in the bytes of every write; starting at the rarer "_" makes the search cheaper.
FINGERPRINT = re.compile(rb'_fingerprint":(?:"[^"]*"|null)')
PLATFORM_FINGERPRINT = "fp_llmaas"
NO_FINGERPRINT = b'_fingerprint":"' + PLATFORM_FINGERPRINT.encode() + b'"'


def scrub(body: dict[str, Any]) -> None:
    """Remove the engine's internals from an answer or a stream chunk, in place."""
    for key in ENGINE_KEYS:
        body.pop(key, None)
    if "system_fingerprint" in body:
        body["system_fingerprint"] = PLATFORM_FINGERPRINT
    usage = body.get("usage")
    if isinstance(usage, dict):
        details = usage.get("prompt_tokens_details")
        if isinstance(details, dict) and details.get("cached_tokens"):
            details["cached_tokens"] = 0


def complete(body: dict[str, Any]) -> None:
    """Add the fields OpenAI's schema requires on choices and chat messages, as null when absent."""
    for choice in body.get("choices") or []:
        if not isinstance(choice, dict):
            continue
        choice.setdefault("logprobs", None)
        message = choice.get("message")
        if isinstance(message, dict):
            message.setdefault("refusal", None)
