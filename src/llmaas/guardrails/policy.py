"""What a tier or a key asks the guardrail to do with a prompt it finds an injection in.

    resolve(key=None, tier=Policy.FLAG)           # -> Policy.FLAG: a key without its own inherits
    resolve(key=Policy.BLOCK, tier=Policy.FLAG)   # -> Policy.BLOCK: the key's own wins
"""

from __future__ import annotations

from enum import StrEnum


class Policy(StrEnum):
    OFF = "off"  # prompts are not screened
    FLAG = "flag"  # the request proceeds, marked: a header, a metric, a ledger field
    BLOCK = "block"  # refused with 400 prompt_injection_detected before admission: nothing is charged


DEFAULT_POLICY = Policy.FLAG  # the default tiers'


class Verdict(StrEnum):
    """What the guardrail did to one request, as the ledger records it."""

    FLAGGED = "flagged"
    BLOCKED = "blocked"


def resolve(*, key: Policy | None, tier: Policy) -> Policy:
    """The policy a request is screened under: the key's own when it has one, else its tier's."""
    return tier if key is None else key
