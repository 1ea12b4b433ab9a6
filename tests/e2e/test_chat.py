"""Chat and completions on the real embedded models, through the official SDK."""

from __future__ import annotations

import json
from typing import Any

import httpx
import openai
import pytest

from tests.e2e.conftest import Served

pytestmark = pytest.mark.e2e

CHAT_MODELS = ["qwen2.5-coder-0.5b-instruct", "smollm2-135m-instruct"]


@pytest.mark.parametrize("model", CHAT_MODELS)
def test_chat_answers_and_usage_adds_up(served: Served, model: str) -> None:
    reply = served.client().chat.completions.create(
        model=model, messages=[{"role": "user", "content": "Name one colour."}], max_tokens=12,
        temperature=0,
    )
    assert reply.model == model
    assert reply.choices[0].message.content and reply.choices[0].message.content.strip()
    usage = reply.usage
    assert usage is not None and usage.prompt_tokens > 0 and 0 < usage.completion_tokens <= 12
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


def test_streaming_sends_chunks_then_usage_then_done(served: Served) -> None:
    body = {
        "model": "qwen2.5-coder-0.5b-instruct", "stream": True, "max_tokens": 16,
        "messages": [{"role": "user", "content": "Count from one to five."}],
        "stream_options": {"include_usage": True},
    }
    response = httpx.post(f"{served.url}/v1/chat/completions", json=body, timeout=120,
                          headers={"Authorization": f"Bearer {served.key}"})
    events = [e.removeprefix("data: ") for e in response.text.split("\n\n") if e.strip()]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    content = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert content.strip()
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] > 0
    assert all(c.get("usage") is None for c in chunks[:-1])


def test_streaming_through_the_sdk(served: Served) -> None:
    stream = served.client().chat.completions.create(
        model="smollm2-135m-instruct", messages=[{"role": "user", "content": "Say hello."}],
        max_tokens=8, stream=True, stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert sum(1 for c in chunks if c.choices and c.choices[0].delta.content) >= 1
    assert chunks[-1].usage is not None


def test_tool_call_round_trip(served: Served) -> None:
    client = served.client()
    tools: Any = [{
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather in a city.",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                           "required": ["city"]},
        },
    }]
    messages: Any = [
        {"role": "user", "content": "What is the weather in Paris? Use the tool."}
    ]
    first = client.chat.completions.create(
        model="qwen2.5-coder-0.5b-instruct", messages=messages, tools=tools,
        tool_choice="required", max_tokens=64, temperature=0,
    )
    calls = first.choices[0].message.tool_calls
    assert calls and calls[0].type == "function"
    assert calls[0].function.name == "get_weather"
    arguments = json.loads(calls[0].function.arguments)
    assert "paris" in arguments["city"].lower()
    messages += [
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": calls[0].id, "content": '{"temperature_c": 18, "sky": "clear"}'},
    ]
    second = client.chat.completions.create(
        model="qwen2.5-coder-0.5b-instruct", messages=messages, tools=tools,
        max_tokens=48, temperature=0,
    )
    # The tool's result reached the model: the prompt grew by the call and its result, and the model
    # answered. What a 0.5B model says with it differs between CPUs, so its words are not asserted.
    assert first.usage is not None and second.usage is not None
    assert second.usage.prompt_tokens > first.usage.prompt_tokens + 10
    assert second.choices[0].message.content or second.choices[0].message.tool_calls


def test_json_object_output_parses(served: Served) -> None:
    reply = served.client().chat.completions.create(
        model="qwen2.5-coder-0.5b-instruct", response_format={"type": "json_object"},
        messages=[{"role": "user", "content": "Give a JSON object with keys name and age for Ada, 36."}],
        max_tokens=64, temperature=0,
    )
    assert isinstance(json.loads(reply.choices[0].message.content or ""), dict)


def test_json_schema_output_follows_the_schema(served: Served) -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}, "population": {"type": "integer"}},
              "required": ["city", "population"], "additionalProperties": False}
    reply = served.client().chat.completions.create(
        model="qwen2.5-coder-0.5b-instruct",
        response_format={"type": "json_schema", "json_schema": {"name": "city", "schema": schema}},
        messages=[{"role": "user", "content": "The largest city of France and its population."}],
        max_tokens=64, temperature=0,
    )
    parsed = json.loads(reply.choices[0].message.content or "")
    assert set(parsed) == {"city", "population"} and isinstance(parsed["population"], int)


def test_stop_sequence_ends_the_answer(served: Served) -> None:
    reply = served.client().chat.completions.create(
        model="qwen2.5-coder-0.5b-instruct", temperature=0, max_tokens=40, stop=["3"],
        messages=[{"role": "user", "content": "Write the digits 1 2 3 4 5 separated by spaces."}],
    )
    assert "4" not in (reply.choices[0].message.content or "")


def test_completions_on_the_base_model(served: Served) -> None:
    reply = served.client().completions.create(
        model="gemma-3-270m", prompt="The capital of France is", max_tokens=8, temperature=0
    )
    assert reply.choices[0].text.strip()
    assert reply.usage is not None and reply.usage.completion_tokens > 0


def test_chat_on_the_base_model_is_refused(served: Served) -> None:
    with pytest.raises(openai.BadRequestError, match="completions"):
        served.client().chat.completions.create(
            model="gemma-3-270m", messages=[{"role": "user", "content": "Hi"}]
        )


def test_a_prompt_beyond_the_context_is_context_length_exceeded(served: Served) -> None:
    long_prompt = "word " * 9000
    with pytest.raises(openai.BadRequestError) as caught:
        served.client().chat.completions.create(
            model="smollm2-135m-instruct", messages=[{"role": "user", "content": long_prompt}],
            max_tokens=4,
        )
    assert caught.value.code == "context_length_exceeded"
