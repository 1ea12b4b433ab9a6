"""Tool calls on the real Qwen model through llama-server: streamed or not, auto, required or named."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import jsonschema
import pytest

from llmaas.gateway.shapes import PLATFORM_FINGERPRINT
from tests.e2e.conftest import Served

pytestmark = pytest.mark.e2e

MODEL = "qwen2.5-coder-0.5b-instruct"
CITY: Any = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
TOOLS: Any = [
    {"type": "function", "function": {"name": "get_weather", "description": "Current weather in a city.",
                                      "parameters": CITY}},
    {"type": "function", "function": {"name": "get_time", "description": "Current local time in a city.",
                                      "parameters": CITY}},
]
ASK: Any = [{"role": "user", "content": "What is the weather in Paris? Use the tool."}]
NAMED: Any = {"type": "function", "function": {"name": "get_time"}}


@pytest.mark.parametrize("choice", ["auto", "required", NAMED], ids=["auto", "required", "named"])
def test_a_streamed_call_reassembles_to_the_call_not_streamed(served: Served, choice: Any) -> None:
    client = served.client()
    options: Any = {"model": MODEL, "messages": ASK, "tools": TOOLS, "tool_choice": choice,
                    "max_tokens": 200, "temperature": 0}
    whole = client.chat.completions.create(**options)
    with client.chat.completions.stream(**options) as stream:
        chunks = [event.chunk for event in stream if event.type == "chunk"]
        streamed = stream.get_final_completion()
    calls = []
    for reply in (whole, streamed):
        assert reply.choices[0].finish_reason == "tool_calls"
        assert not reply.choices[0].message.content
        [call] = reply.choices[0].message.tool_calls or []
        assert call.type == "function" and call.id.startswith("call_")
        calls.append((call.function.name, json.loads(call.function.arguments)))
    assert calls[0] == calls[1]
    name, arguments = calls[0]
    assert name == ("get_time" if choice is NAMED else "get_weather")
    assert "paris" in arguments["city"].lower()
    # OpenAI's chunking: the first tool-call delta names the call, the others carry arguments.
    deltas = [c.choices[0].delta.tool_calls[0] for c in chunks if c.choices and c.choices[0].delta.tool_calls]
    assert deltas[0].id and deltas[0].function and deltas[0].function.name == name
    assert deltas[0].function.arguments == ""
    assert all(d.id is None and d.function and d.function.name is None for d in deltas[1:])
    assert not [c for c in chunks if c.choices and c.choices[0].delta.content]


def test_a_named_call_stops_where_its_json_closes(served: Served) -> None:
    reply = served.client().chat.completions.create(
        model=MODEL, messages=ASK, tools=TOOLS, tool_choice=NAMED, max_tokens=200, temperature=0,
    )
    assert reply.choices[0].finish_reason == "tool_calls"
    [call] = reply.choices[0].message.tool_calls or []
    assert call.function.name == "get_time"  # type: ignore[union-attr]
    assert set(json.loads(call.function.arguments)) == {"city"}  # type: ignore[union-attr]
    assert reply.usage is not None and reply.usage.completion_tokens < 50


def test_without_parallel_calls_one_call_comes(served: Served) -> None:
    reply = served.client().chat.completions.create(
        model=MODEL, tools=TOOLS, tool_choice="required", parallel_tool_calls=False, max_tokens=200,
        temperature=0,
        messages=[{"role": "user", "content": "Weather and local time in Rome? Use the tools."}],
    )
    assert len(reply.choices[0].message.tool_calls or []) == 1


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_required_with_parallel_calls_makes_valid_calls_for_two_cities(served: Served, stream: bool) -> None:
    options: Any = {
        "model": MODEL, "tools": TOOLS, "tool_choice": "required", "max_tokens": 200, "temperature": 0,
        "messages": [{"role": "user", "content": "What is the weather in Paris and in Rome? Use the tools."}],
    }
    client = served.client()
    if stream:
        with client.chat.completions.stream(**options) as events:
            reply = events.get_final_completion()
    else:
        reply = client.chat.completions.create(**options)
    assert reply.choices[0].finish_reason == "tool_calls"
    calls = reply.choices[0].message.tool_calls or []
    assert calls, "at least one call (a 0.5B model may make only one)"
    assert len({call.id for call in calls}) == len(calls)
    for call in calls:
        assert call.function.name in ("get_weather", "get_time")
        jsonschema.validate(json.loads(call.function.arguments), CITY)


def test_answers_carry_no_engine_internals(served: Served) -> None:
    url, headers = f"{served.url}/v1/chat/completions", {"Authorization": f"Bearer {served.key}"}
    body: Any = {"model": MODEL, "messages": [{"role": "user", "content": "Say hi."}], "max_tokens": 4}
    for _ in range(2):  # the second shares the first's prompt: the engine reports cached tokens
        answer = httpx.post(url, json=body, headers=headers, timeout=120).json()
    assert "timings" not in answer and answer["system_fingerprint"] == PLATFORM_FINGERPRINT
    assert answer["choices"][0]["logprobs"] is None and answer["choices"][0]["message"]["refusal"] is None
    assert answer["usage"]["prompt_tokens_details"]["cached_tokens"] == 0
    streamed = httpx.post(url, headers=headers, timeout=120,
                          json={**body, "stream": True, "stream_options": {"include_usage": True}}).text
    assert '"timings"' not in streamed
    assert set(re.findall(r'"system_fingerprint":("[^"]*"|null)', streamed)) == {f'"{PLATFORM_FINGERPRINT}"'}
    assert '"cached_tokens":0' in streamed
