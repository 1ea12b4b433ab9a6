"""Prompt-injection guardrails: the classifier the guardrail worker serves, and the policy tiers
and keys choose (off, flag, block). The gateway reaches the classifier over HTTP only."""

from llmaas.guardrails.policy import DEFAULT_POLICY, Policy, Verdict, resolve

__all__ = ["DEFAULT_POLICY", "Policy", "Verdict", "resolve"]
