"""Prompt-injection guardrails: the classifier the guardrail worker serves, and the policy."""
