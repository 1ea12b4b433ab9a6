from __future__ import annotations

import pytest

from llmaas.guardrails import DEFAULT_POLICY, Policy, resolve


@pytest.mark.parametrize("tier", list(Policy))
def test_a_key_without_its_own_policy_inherits_its_tier(tier: Policy) -> None:
    assert resolve(key=None, tier=tier) is tier


@pytest.mark.parametrize("tier", list(Policy))
@pytest.mark.parametrize("key", list(Policy))
def test_the_key_policy_wins(key: Policy, tier: Policy) -> None:
    assert resolve(key=key, tier=tier) is key


def test_the_default_tiers_flag() -> None:
    assert DEFAULT_POLICY is Policy.FLAG
