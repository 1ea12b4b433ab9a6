"""Embedded engine workers: small OpenAI-compatible HTTP servers, each run as its own process.

The gateway never imports these modules; it reaches a worker over loopback HTTP exactly as it would
reach vLLM in production.
"""
