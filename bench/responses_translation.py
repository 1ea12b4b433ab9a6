"""What /v1/responses adds to a chat request: the gateway's own steps for one request, in process.

    .venv/bin/python -m bench.responses_translation

The same question with a tool, asked as a chat completion and as a response: the family's `check`
(chat's checks and shaping; for a response, the translation to chat first) and `finish` (the engine's
answer shaped; for a response, turned into a response object), each run many times, alternating, in
CPU time of this process (a neighbour's load disturbs it little). The network, the engine and the
rest of the pipeline, the same for both, are left out: the ratio is the translation's own cost.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from typing import Any

from llmaas.catalog import ModelEntry
from llmaas.gateway.chat import CHAT
from llmaas.gateway.responses import RESPONSES
from llmaas.wire.requests import ChatCompletionRequest
from llmaas.wire.responses_api import CreateResponseRequest

ROUNDS, REPEAT = 7, 2000
CITY = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
ENTRY = ModelEntry.model_validate({
    "id": "m", "family": "f", "owned_by": "o", "capabilities": ["chat", "tools"], "context_length": 8192,
    "max_output_tokens": 512, "license": "MIT", "upstreams": [{"url": "http://127.0.0.1:1/v1", "model": "m"}],
})
CHAT_BODY: Any = {"model": "m", "messages": [
    {"role": "system", "content": "Answer briefly."}, {"role": "user", "content": "Weather in Paris?"}],
    "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": CITY}}]}
RESPONSE_BODY: Any = {"model": "m", "instructions": "Answer briefly.", "input": "Weather in Paris?",
                      "tools": [{"type": "function", "name": "get_weather", "parameters": CITY}]}
ANSWER = {"id": "c", "object": "chat.completion", "created": 1, "model": "m", "choices": [
    {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "Sunny, 21 degrees."}}],
    "usage": {"prompt_tokens": 30, "completion_tokens": 6, "total_tokens": 36}}


def cpu_us(step: Callable[[], object]) -> float:
    started = time.process_time()
    for _ in range(REPEAT):
        step()
    return (time.process_time() - started) / REPEAT * 1e6


def main() -> None:
    chat = ChatCompletionRequest.model_validate(CHAT_BODY)
    response = CreateResponseRequest.model_validate(RESPONSE_BODY)
    steps: dict[str, Callable[[], object]] = {
        "chat check": lambda: CHAT.check(ENTRY, chat),
        "responses check": lambda: RESPONSES.check(ENTRY, response),
        "chat finish": lambda: CHAT.finish(chat, copy.deepcopy(ANSWER)),
        "responses finish": lambda: RESPONSES.finish(response, copy.deepcopy(ANSWER)),
    }
    samples: dict[str, list[float]] = {name: [] for name in steps}
    for round_ in range(ROUNDS):  # alternating, the order flipped every round
        for name in (list(steps) if round_ % 2 else list(reversed(steps))):
            samples[name].append(cpu_us(steps[name]))
    median = {name: sorted(values)[len(values) // 2] for name, values in samples.items()}
    for name, value in median.items():
        print(f"{name:18} {value:8.1f} µs CPU (median of {ROUNDS} rounds of {REPEAT})")
    both_chat = median["chat check"] + median["chat finish"]
    both_responses = median["responses check"] + median["responses finish"]
    print(f"check + finish: chat {both_chat:.1f} µs, responses {both_responses:.1f} µs, "
          f"ratio {both_responses / both_chat:.2f}, added {both_responses - both_chat:.1f} µs")


if __name__ == "__main__":
    main()
