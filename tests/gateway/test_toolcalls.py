from __future__ import annotations

import json
from typing import Any

import openai
import pytest

from llmaas.errors import InvalidRequest
from llmaas.gateway.toolcalls import (
    MAX_PARALLEL_CALLS,
    call_schema,
    calls_schema,
    constrain_tool_choice,
    recover_tool_calls,
)
from llmaas.wire.requests import ChatCompletionRequest, Tool
from tests.fakes import FakeEngine
from tests.gateway.conftest import Platform

TOOL: Any = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}
OTHER: Any = {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}}


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


@pytest.mark.parametrize("forced", ["required", {"type": "function", "function": {"name": "get_weather"}}])
def test_text_after_the_call_counts_only_when_a_call_was_forced(forced: Any) -> None:
    content = '{"name": "get_weather", "arguments": {"city": "Paris"}}\nIt is 18 degrees.'
    body = answer(content)
    recover_tool_calls(request(), body)
    assert body == answer(content)
    recover_tool_calls(request(tool_choice=forced), body)
    assert body["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "get_weather"
    assert body["choices"][0]["finish_reason"] == "tool_calls"


def test_a_named_choice_recovers_only_the_named_function() -> None:
    body = answer('{"name": "get_time", "arguments": {}}')
    recover_tool_calls(request(tool_choice={"type": "function", "function": {"name": "get_weather"}}), body)
    assert body == answer('{"name": "get_time", "arguments": {}}')


def test_without_parallel_calls_at_most_one_call_comes_back() -> None:
    calls = [{"id": f"call_{i}", "type": "function", "function": {"name": "get_time", "arguments": "{}"}}
             for i in range(2)]
    body: dict[str, Any] = {"choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
        "role": "assistant", "content": None, "tool_calls": calls}}]}
    recover_tool_calls(request(parallel_tool_calls=False), body)
    assert [call["id"] for call in body["choices"][0]["message"]["tool_calls"]] == ["call_0"]


def test_nothing_is_recovered_when_tools_are_off() -> None:
    body = answer('{"name": "get_weather", "arguments": {}}')
    recover_tool_calls(request(tool_choice="none"), body)
    assert body["choices"][0]["message"]["content"]


def test_a_named_tool_choice_becomes_required_over_that_tool_under_its_schema() -> None:
    asked = request(tool_choice={"type": "function", "function": {"name": "get_time"}})
    payload = asked.model_dump(exclude_unset=True, by_alias=True)
    constrain_tool_choice(asked, payload)
    assert payload["tool_choice"] == "required"
    assert [t["function"]["name"] for t in payload["tools"]] == ["get_time"]
    assert payload["response_format"]["type"] == "json_schema"
    assert payload["response_format"]["json_schema"]["schema"] == {
        "type": "object", "properties": {"name": {"const": "get_time"}, "arguments": {"type": "object"}},
        "required": ["name", "arguments"], "additionalProperties": False,
    }


def test_required_without_parallel_calls_is_constrained_to_one_call_of_any_tool() -> None:
    asked = request(tool_choice="required", parallel_tool_calls=False)
    payload = asked.model_dump(exclude_unset=True, by_alias=True)
    constrain_tool_choice(asked, payload)
    schema = payload["response_format"]["json_schema"]["schema"]
    assert [v["properties"]["name"]["const"] for v in schema["anyOf"]] == ["get_weather", "get_time"]
    assert len(payload["tools"]) == 2


@pytest.mark.parametrize("parallel", [None, True])
def test_required_with_parallel_calls_is_constrained_to_an_array_of_calls(parallel: bool | None) -> None:
    asked = request(tool_choice="required", **({} if parallel is None else {"parallel_tool_calls": parallel}))
    payload = asked.model_dump(exclude_unset=True, by_alias=True)
    constrain_tool_choice(asked, payload)
    assert payload["tool_choice"] == "required" and len(payload["tools"]) == 2
    schema = payload["response_format"]["json_schema"]["schema"]
    assert schema["type"] == "array" and schema["minItems"] == 1 and schema["maxItems"] == MAX_PARALLEL_CALLS
    assert [v["properties"]["name"]["const"] for v in schema["items"]["anyOf"]] == ["get_weather", "get_time"]


def test_a_named_choice_stays_one_call_with_parallel_calls() -> None:
    asked = request(tool_choice={"type": "function", "function": {"name": "get_time"}},
                    parallel_tool_calls=True)
    payload = asked.model_dump(exclude_unset=True, by_alias=True)
    constrain_tool_choice(asked, payload)
    assert payload["response_format"]["json_schema"]["schema"]["type"] == "object"


def test_an_array_of_calls_becomes_as_many_tool_calls() -> None:
    content = ('[{"name": "get_weather", "arguments": {"city": "Paris"}},\n'
               ' {"name": "get_weather", "arguments": {"city": "Rome"}}]')
    body = answer(content)
    recover_tool_calls(request(tool_choice="required"), body)
    choice = body["choices"][0]
    assert choice["finish_reason"] == "tool_calls" and choice["message"]["content"] is None
    calls = choice["message"]["tool_calls"]
    assert [json.loads(c["function"]["arguments"])["city"] for c in calls] == ["Paris", "Rome"]
    assert len({c["id"] for c in calls}) == 2 and all(c["id"].startswith("call_") for c in calls)


@pytest.mark.parametrize("content", [
    '[{"name": "get_weather", "arguments": {}}, {"name": "delete_everything", "arguments": {}}]',
    '[{"name": "get_weather", "arguments": {}}, "Paris"]',
    "[]",
])
def test_an_array_with_anything_but_calls_passes_untouched(content: str) -> None:
    body = answer(content)
    recover_tool_calls(request(tool_choice="required"), body)
    assert body == answer(content)


def test_an_array_of_calls_counts_only_where_the_engine_was_asked_for_one() -> None:
    content = '[{"name": "get_weather", "arguments": {}}, {"name": "get_time", "arguments": {}}]'
    for asked in (request(), request(tool_choice="required", parallel_tool_calls=False)):
        body = answer(content)
        recover_tool_calls(asked, body)
        assert body == answer(content)


@pytest.mark.parametrize("choice", [None, "auto", "none"])
def test_other_choices_leave_the_engine_free(choice: str | None) -> None:
    asked = request(tool_choice=choice) if choice else request()
    payload = asked.model_dump(exclude_unset=True, by_alias=True)
    constrain_tool_choice(asked, payload)
    assert payload == asked.model_dump(exclude_unset=True, by_alias=True)


def test_a_named_function_that_is_not_offered_is_refused() -> None:
    asked = request(tool_choice={"type": "function", "function": {"name": "launch"}})
    with pytest.raises(InvalidRequest) as caught:
        constrain_tool_choice(asked, asked.model_dump(exclude_unset=True, by_alias=True))
    assert caught.value.param == "tool_choice"


def test_references_in_parameters_still_resolve_in_the_call_schema() -> None:
    parameters = {"type": "object", "properties": {"at": {"$ref": "#/$defs/Place"}},
                  "$defs": {"Place": {"type": "object", "properties": {"city": {"type": "string"}}}}}
    one = Tool.model_validate({"type": "function", "function": {"name": "f", "parameters": parameters}})
    two = Tool.model_validate({"type": "function", "function": {"name": "g", "parameters": parameters}})
    single = call_schema([one])
    assert single["properties"]["arguments"]["properties"]["at"] == {"$ref": "#/$defs/Place"}
    assert single["$defs"] == parameters["$defs"] and "$defs" not in single["properties"]["arguments"]
    both = call_schema([one, two])
    assert both["anyOf"][1]["properties"]["arguments"]["properties"]["at"] == {"$ref": "#/$defs/1_Place"}
    assert set(both["$defs"]) == {"0_Place", "1_Place"}
    assert parameters["$defs"], "the request's own schema is left as it was"
    array = calls_schema([one, two])
    second = array["items"]["anyOf"][1]["properties"]["arguments"]
    assert second["properties"]["at"] == {"$ref": "#/$defs/1_Place"}
    assert set(array["$defs"]) == {"0_Place", "1_Place"} and "$defs" not in array["items"]
    recursive = {"type": "object", "properties": {"next": {"$ref": "#"}}}
    tree = Tool.model_validate({"type": "function", "function": {"name": "t", "parameters": recursive}})
    assert calls_schema([tree])["items"]["properties"]["arguments"]["properties"]["next"] == {
        "$ref": "#/items/properties/arguments"}


# -- through the gateway, with the SDK -------------------------------------------------------------

CALL = ['{"name": "get_', 'weather", "arguments": {"', 'city": "Paris"', "}}"]
ASK: Any = [{"role": "user", "content": "Weather in Paris?"}]


NAMED = {"type": "function", "function": {"name": "get_weather"}}


@pytest.mark.parametrize("choice", ["auto", "required", NAMED])
def test_the_sdk_gets_the_same_call_streamed_or_not(
    platform: Platform, engine: FakeEngine, choice: Any
) -> None:
    engine.pieces = CALL
    whole = platform.client.chat.completions.create(
        model="chat-model", messages=ASK, tools=[TOOL, OTHER], tool_choice=choice)
    with platform.client.chat.completions.stream(
        model="chat-model", messages=ASK, tools=[TOOL, OTHER], tool_choice=choice,
    ) as stream:
        chunks = list(stream)
        streamed = stream.get_final_completion()
    for reply in (whole, streamed):
        assert reply.choices[0].finish_reason == "tool_calls"
        assert reply.choices[0].message.content is None
        [call] = reply.choices[0].message.tool_calls or []
        assert call.function.name == "get_weather"  # type: ignore[union-attr]
        assert json.loads(call.function.arguments) == {"city": "Paris"}  # type: ignore[union-attr]
    assert not [c for c in chunks if c.type == "content.delta"]


TWO_CALLS = ['[{"name": "get_', 'weather", "arguments": {"', 'city": "Paris"', "}}, ",
             '{"name": "get_weather", ', '"arguments": {"city": "Ro', 'me"}}]']


def test_two_calls_the_engine_writes_reach_the_sdk_as_two_tool_calls_streamed_or_not(
    platform: Platform, engine: FakeEngine
) -> None:
    engine.pieces = TWO_CALLS
    options: Any = {"model": "chat-model", "messages": ASK, "tools": [TOOL, OTHER], "tool_choice": "required"}
    whole = platform.client.chat.completions.create(**options)
    assert engine.requests[-1]["response_format"]["json_schema"]["schema"]["type"] == "array"
    with platform.client.chat.completions.stream(**options) as stream:
        chunks = [event.chunk for event in stream if event.type == "chunk"]
        streamed = stream.get_final_completion()
    for reply in (whole, streamed):
        assert reply.choices[0].finish_reason == "tool_calls"
        assert reply.choices[0].message.content is None
        calls = reply.choices[0].message.tool_calls or []
        assert [json.loads(c.function.arguments) for c in calls] == [
            {"city": "Paris"}, {"city": "Rome"}]
        assert len({c.id for c in calls}) == 2
    deltas = [d for c in chunks if c.choices for d in c.choices[0].delta.tool_calls or []]
    heads = [d for d in deltas if d.id]
    assert [d.index for d in heads] == [0, 1]
    assert all(d.function and d.function.name == "get_weather" and d.function.arguments == "" for d in heads)
    assert [d.index for d in deltas] == sorted(d.index for d in deltas), "each call whole before the next"


def test_without_parallel_calls_the_engine_is_asked_for_one_call(
    platform: Platform, engine: FakeEngine
) -> None:
    platform.client.chat.completions.create(model="chat-model", messages=ASK, tools=[TOOL, OTHER],
                                            tool_choice="required", parallel_tool_calls=False)
    schema = engine.requests[-1]["response_format"]["json_schema"]["schema"]
    assert "anyOf" in schema and "items" not in schema


def test_a_named_choice_reaches_the_engine_as_a_constrained_required_call(
    platform: Platform, engine: FakeEngine
) -> None:
    platform.client.chat.completions.create(
        model="chat-model", messages=ASK, tools=[TOOL, OTHER],
        tool_choice={"type": "function", "function": {"name": "get_time"}},
    )
    sent = engine.requests[-1]
    assert sent["tool_choice"] == "required"
    assert [tool["function"]["name"] for tool in sent["tools"]] == ["get_time"]
    schema = sent["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["name"] == {"const": "get_time"}


def test_a_named_function_not_offered_is_a_400_before_any_engine(
    platform: Platform, engine: FakeEngine
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        platform.client.chat.completions.create(
            model="chat-model", messages=ASK, tools=[TOOL],
            tool_choice={"type": "function", "function": {"name": "get_time"}}, stream=True,
        )
    assert caught.value.body["param"] == "tool_choice"  # type: ignore[index]
    assert engine.requests == []


def test_a_plain_answer_to_a_tool_request_streams_as_text(platform: Platform, engine: FakeEngine) -> None:
    chunks = list(platform.client.chat.completions.create(
        model="chat-model", messages=ASK, tools=[TOOL], stream=True,
    ))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello there friend"
    assert chunks[-1].choices[0].finish_reason == "stop"
