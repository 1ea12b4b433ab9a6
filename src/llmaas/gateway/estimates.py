"""Upper bounds for admission, computed without a tokenizer round trip.

Byte-level BPE tokenizers (Llama, Qwen, Gemma, GPT) never make a token shorter than one byte, so the
UTF-8 length of the text is an upper bound on its tokens; a few more cover each message's template.
A bound above the model's context cannot be real, so the context caps it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

_PER_MESSAGE = 8  # role markers and separators a chat template adds
_PER_REQUEST = 16


def text_tokens_upper_bound(parts: Iterable[Any], *, context_length: int, messages: int = 0) -> int:
    size = sum(len(part.encode()) if isinstance(part, str) else len(orjson.dumps(part)) for part in parts)
    return min(context_length, size + _PER_MESSAGE * messages + _PER_REQUEST)


def disconnected_input_estimate(upper_bound: int) -> int:
    """Input tokens to bill when a stream ends before the engine reported usage.

    About four bytes make a token in the languages served, so the upper bound over four is a fair
    estimate (the reservation already held the full bound).
    """
    return max(1, upper_bound // 4)
