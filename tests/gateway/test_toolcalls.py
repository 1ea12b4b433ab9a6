from __future__ import annotations

import json
from typing import Any

import pytest

from llmaas.gateway.toolcalls import narrow_tool_choice, recover_tool_calls
from llmaas.wire.requests import ChatCompletionRequest

TOOL = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}
OTHER = {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}}


def request(**extra: Any) -> ChatCompletionRequest:
    return ChatCompletionRequest.model_validate(
        {"model": "m", "messages": [{"role": "user", "content": "x"}], "tools": [TOOL, OTHER], **extra}
    )


def answer(content: str) -> dict[str, Any]:
    message = {"role": "assistant", "content": content}
    return {"choices": [{"index": 0, "finish_reason": "stop", "message": message}]}


@pytest.mark.parametrize(
    "content",
    [
        '{"name": "get_weather", "arguments": {"city": "Paris"}}',
        '```json\n{\n  "name": "get_weather",\n  "arguments": {"city": "Paris"}\n}\n```',
        '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>',
    ],
)
def test_a_call_written_as_text_becomes_a_tool_call(content: str) -> None:
    body = answer(content)
    recover_tool_calls(request(), body)
    choice = body["choices"][0]
    assert choice["finish_reason"] == "tool_calls" and choice["message"]["content"] is None
    [call] = choice["message"]["tool_calls"]
    assert call["type"] == "function" and call["id"].startswith("call_")
    assert call["function"]["name"] == "get_weather"
    assert json.loads(call["function"]["arguments"]) == {"city": "Paris"}


@pytest.mark.parametrize(
    "content",
    [
        "It is sunny in Paris.",
        '{"name": "delete_everything", "arguments": {}}',
        '{"name": "get_weather", "arguments": "Paris"}',
        'Sure: {"name": "get_weather", "arguments": {}}',
    ],
)
def test_other_answers_pass_untouched(content: str) -> None:
    body = answer(content)
    recover_tool_calls(request(), body)
    assert body == answer(content)


def test_text_after_the_call_counts_only_when_a_call_was_required() -> None:
    content = '{"name": "get_weather", "arguments": {"city": "Paris"}}\nIt is 18 degrees.'
    body = answer(content)
    recover_tool_calls(request(), body)
    assert body == answer(content)
    recover_tool_calls(request(tool_choice="required"), body)
    assert body["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "get_weather"


def test_nothing_is_recovered_when_tools_are_off() -> None:
    body = answer('{"name": "get_weather", "arguments": {}}')
    recover_tool_calls(request(tool_choice="none"), body)
    assert body["choices"][0]["message"]["content"]


def test_a_named_tool_choice_becomes_required_over_that_tool() -> None:
    asked = request(tool_choice={"type": "function", "function": {"name": "get_time"}})
    payload = asked.model_dump(exclude_unset=True, by_alias=True)
    narrow_tool_choice(asked, payload)
    assert payload["tool_choice"] == "required"
    assert [t["function"]["name"] for t in payload["tools"]] == ["get_time"]
