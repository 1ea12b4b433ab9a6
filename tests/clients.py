"""OpenAI SDK clients for tests, closed when the test that made them ends.

An unclosed client keeps its keep-alive socket until the garbage collector finds it, and the
ResourceWarning then fails whichever later test the collector happens to run in.
"""

from __future__ import annotations

from typing import Any

import openai

_open: list[openai.OpenAI] = []


def sdk(base_url: str, api_key: str, **options: Any) -> openai.OpenAI:
    """A client for one test: `close_clients` (an autouse fixture) closes it after the test."""
    client = openai.OpenAI(base_url=base_url, api_key=api_key, max_retries=0, **options)
    _open.append(client)
    return client


def close_clients() -> None:
    while _open:
        _open.pop().close()
