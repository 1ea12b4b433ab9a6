"""POST /v1/responses through the gateway, with the official SDK: what the engine is asked, what the
client gets, streamed or not, and a 400 naming each field the platform cannot honour."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest
from openai.types.responses import ResponseFunctionToolCall

from llmaas.auth import KeyLimits
from tests.fakes import USAGE, FakeEngine
from tests.gateway.conftest import Platform
from tests.gateway.test_accounting import events, prefix
from tests.gateway.test_errors import assert_error
from tests.gateway.test_guardrails import INJECTION, Guarded, guarded  # noqa: F401 (a fixture)
from tests.gateway.test_request_fields import send

WEATHER: Any = {"type": "function", "name": "get_weather", "description": "The weather in a city.",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                               "required": ["city"]}}
CALL = ['{"name": "get_weather", ', '"arguments": {"city": "Paris"}}']


def test_a_text_answer_is_a_response_object(platform: Platform, engine: FakeEngine) -> None:
    response = platform.client.responses.create(
        model="chat-model", input="Hi", instructions="Answer briefly.", metadata={"app": "test"},
        temperature=0.2, top_p=0.9, max_output_tokens=20,
    )
    assert response.object == "response" and response.id.startswith("resp_")
    assert (response.status, response.model) == ("completed", "chat-model")
    assert response.output_text == "Hello there"
    assert response.to_dict()["store"] is False and response.metadata == {"app": "test"}
    assert response.usage is not None
    assert (response.usage.input_tokens, response.usage.output_tokens, response.usage.total_tokens) == (
        USAGE["prompt_tokens"], USAGE["completion_tokens"], USAGE["total_tokens"])
    assert response.usage.input_tokens_details.cached_tokens == 0  # never another tenant's cache
    sent = engine.requests[-1]
    assert sent["messages"] == [{"role": "system", "content": "Answer briefly."},
                                {"role": "user", "content": "Hi"}]
    assert (sent["max_tokens"], sent["temperature"], sent["top_p"]) == (20, 0.2, 0.9)
    assert "metadata" not in sent and "store" not in sent


def test_a_conversation_with_function_results_reaches_the_engine_as_chat(
    platform: Platform, engine: FakeEngine
) -> None:
    platform.client.responses.create(model="chat-model", tools=[WEATHER], input=[
        {"role": "user", "content": [{"type": "input_text", "text": "Weather in Paris and Rome?"}]},
        {"type": "function_call", "call_id": "c1", "name": "get_weather", "arguments": '{"city":"Paris"}'},
        {"type": "function_call", "call_id": "c2", "name": "get_weather", "arguments": '{"city":"Rome"}'},
        {"type": "function_call_output", "call_id": "c1", "output": "sunny"},
        {"type": "function_call_output", "call_id": "c2", "output": [{"type": "input_text", "text": "rain"}]},
        {"type": "message", "role": "assistant", "id": "msg_1", "status": "completed",
         "content": [{"type": "output_text", "text": "Paris: sunny.", "annotations": []}]},
        {"role": "user", "content": "Thanks"},
    ])
    sent = engine.requests[-1]
    assert sent["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "Weather in Paris and Rome?"}]},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function",
             "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}},
            {"id": "c2", "type": "function",
             "function": {"name": "get_weather", "arguments": '{"city":"Rome"}'}},
        ]},
        {"role": "tool", "content": "sunny", "tool_call_id": "c1"},
        {"role": "tool", "content": "rain", "tool_call_id": "c2"},
        {"role": "assistant", "content": "Paris: sunny."},
        {"role": "user", "content": "Thanks"},
    ]
    assert sent["tools"] == [{"type": "function", "function": {
        "name": "get_weather", "description": "The weather in a city.", "parameters": WEATHER["parameters"]}}]


def test_a_function_call_is_an_output_item(platform: Platform, engine: FakeEngine) -> None:
    engine.pieces = CALL  # as a small model writes it: the gateway recovers the call
    response = platform.client.responses.create(model="chat-model", input="Weather?", tools=[WEATHER])
    [call] = response.output
    assert isinstance(call, ResponseFunctionToolCall) and call.status == "completed"
    assert str(call.id).startswith("fc_") and call.call_id.startswith("call_")
    assert (call.name, json.loads(call.arguments)) == ("get_weather", {"city": "Paris"})


def test_a_required_or_named_tool_choice_is_generated_under_a_constraint(
    platform: Platform, engine: FakeEngine
) -> None:
    engine.pieces = CALL
    choices: list[Any] = ["required", {"type": "function", "name": "get_weather"}]
    for choice in choices:
        response = platform.client.responses.create(
            model="chat-model", input="Paris?", tools=[WEATHER], tool_choice=choice,
            parallel_tool_calls=False)
        assert response.output[0].type == "function_call"
        sent = engine.requests[-1]
        assert sent["tool_choice"] == "required" and sent["parallel_tool_calls"] is False
        assert sent["response_format"]["json_schema"]["name"] == "tool_call"


def test_required_with_parallel_calls_gives_a_function_call_item_per_call(
    platform: Platform, engine: FakeEngine
) -> None:
    engine.pieces = ['[{"name": "get_weather", "arguments": {"city": "Paris"}}, ',
                     '{"name": "get_weather", "arguments": {"city": "Rome"}}]']
    options: Any = {"model": "chat-model", "input": "Paris and Rome?", "tools": [WEATHER],
                    "tool_choice": "required"}
    response = platform.client.responses.create(**options)
    assert engine.requests[-1]["response_format"]["json_schema"]["name"] == "tool_calls"
    with platform.client.responses.stream(**options) as stream:
        streamed = stream.get_final_response()
    for reply in (response, streamed):
        calls = [item for item in reply.output if isinstance(item, ResponseFunctionToolCall)]
        assert [json.loads(call.arguments)["city"] for call in calls] == ["Paris", "Rome"]
        assert len({call.call_id for call in calls}) == 2


def test_text_format_becomes_the_engines_response_format(platform: Platform, engine: FakeEngine) -> None:
    schema: dict[str, Any] = {"type": "object", "properties": {"answer": {"type": "string"}},
                              "required": ["answer"]}
    platform.client.responses.create(model="chat-model", input="x", text={"format": {
        "type": "json_schema", "name": "reply", "schema": schema, "strict": True}})
    assert engine.requests[-1]["response_format"] == {
        "type": "json_schema", "json_schema": {"name": "reply", "schema": schema, "strict": True}}
    platform.client.responses.create(model="chat-model", input="x", text={"format": {"type": "json_object"}})
    assert engine.requests[-1]["response_format"] == {"type": "json_object"}


def test_a_streamed_answer_has_openais_events_in_order(platform: Platform, engine: FakeEngine) -> None:
    events = list(platform.client.responses.create(model="chat-model", input="Hi", stream=True))
    assert [e.type for e in events] == [
        "response.created", "response.in_progress", "response.output_item.added",
        "response.content_part.added", *["response.output_text.delta"] * 3, "response.output_text.done",
        "response.content_part.done", "response.output_item.done", "response.completed",
    ]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    completed = events[-1]
    assert completed.type == "response.completed"
    assert deltas == completed.response.output_text == "Hello there friend"
    assert completed.response.usage is not None and completed.response.usage.total_tokens == 10
    assert engine.requests[-1]["stream_options"] == {"include_usage": True}


def test_a_streamed_function_call_has_argument_events(platform: Platform, engine: FakeEngine) -> None:
    engine.pieces = CALL
    events = list(platform.client.responses.create(
        model="chat-model", input="Weather in Paris?", tools=[WEATHER], stream=True))
    assert [e.type for e in events][2:] == [
        "response.output_item.added", "response.function_call_arguments.delta",
        "response.function_call_arguments.done", "response.output_item.done", "response.completed",
    ]
    done = events[-3]
    assert done.type == "response.function_call_arguments.done"
    assert (done.to_dict()["name"], json.loads(done.arguments)) == ("get_weather", {"city": "Paris"})
    completed = events[-1]
    assert completed.type == "response.completed"
    [call] = completed.response.output
    assert isinstance(call, ResponseFunctionToolCall) and call.name == "get_weather"


def test_an_engine_failing_mid_stream_ends_it_with_response_failed(
    platform: Platform, engine: FakeEngine
) -> None:
    engine.mode = "die_mid_stream"
    events = list(platform.client.responses.create(model="chat-model", input="Hi", stream=True))
    last = events[-1]
    assert last.type == "response.failed"
    assert last.response.status == "failed" and last.response.error is not None


def test_responses_are_metered_as_chat(platform: Platform, engine: FakeEngine) -> None:
    client = platform.new_key()
    client.responses.create(model="chat-model", input="Hi")
    list(client.responses.create(model="chat-model", input="Hi", stream=True))
    rows = events(platform, prefix(client))
    assert [(r.endpoint, r.input_tokens, r.output_tokens) for r in rows] == [
        ("/v1/responses", USAGE["prompt_tokens"], USAGE["completion_tokens"])] * 2


def test_limits_and_lifecycle_apply_as_for_chat(platform: Platform, engine: FakeEngine) -> None:
    client = platform.new_key(limits=KeyLimits(requests_per_minute=1))
    raw = client.responses.with_raw_response.create(model="chat-model", input="Hi")
    assert raw.headers["x-ratelimit-limit-requests"] == "1"
    assert raw.headers["x-ratelimit-remaining-requests"] == "0"
    with pytest.raises(openai.RateLimitError):
        client.responses.create(model="chat-model", input="Hi")
    old = platform.client.responses.with_raw_response.create(model="old-model", input="Hi")
    assert "deprecation" in {name.lower() for name in old.headers}
    with pytest.raises(openai.BadRequestError) as caught:  # a model without chat
        platform.client.responses.create(model="embed-model", input="Hi")
    assert caught.value.param == "model"


def test_the_guardrail_screens_the_user_turns_and_function_outputs(guarded: Guarded) -> None:  # noqa: F811
    client = guarded.client()  # the default tiers flag
    marked = client.responses.with_raw_response.create(model="chat-model", input=[
        {"type": "function_call", "call_id": "c1", "name": "fetch", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1", "output": INJECTION}])
    assert marked.headers["x-llmaas-guardrail"] == "flagged"
    # The application's own instructions are not screened.
    plain = client.responses.with_raw_response.create(
        model="chat-model", instructions=INJECTION, input="Hello")
    assert "x-llmaas-guardrail" not in plain.headers


BODY = {"model": "chat-model", "input": "x"}
NO_EFFECT: dict[str, Any] = {
    "store": False, "background": False, "include": [], "truncation": "disabled", "user": "u",
    "metadata": {"k": "v"}, "prompt_cache_key": "k", "prompt_cache_retention": "24h",
    "prompt_cache_options": {}, "safety_identifier": "s", "service_tier": "auto",
    "stream_options": {"include_obfuscation": False}, "stream": False,
}


def test_fields_without_effect_are_accepted_and_never_forwarded(
    platform: Platform, engine: FakeEngine
) -> None:
    answer = send(platform, "/v1/responses", {**BODY, **NO_EFFECT})
    assert answer.status_code == 200, answer.text
    sent = engine.requests[-1]
    assert not set(NO_EFFECT) - {"stream"} & set(sent), sent
    assert answer.json()["metadata"] == {"k": "v"} and answer.json()["store"] is False


@pytest.mark.parametrize(("fields", "param"), [
    ({"store": True}, "store"),
    ({"previous_response_id": "resp_1"}, "previous_response_id"),
    ({"conversation": "conv_1"}, "conversation"),
    ({"background": True}, "background"),
    ({"include": ["reasoning.encrypted_content"]}, "include"),
    ({"reasoning": {"effort": "high"}}, "reasoning"),
    ({"prompt": {"id": "pmpt_1"}}, "prompt"),
    ({"max_tool_calls": 3}, "max_tool_calls"),
    ({"moderation": {"model": "omni-moderation-latest"}}, "moderation"),
    ({"image": {"size": "1024x1024"}}, "image"),
    ({"access_programs": {}}, "access_programs"),
    ({"top_logprobs": 2}, "top_logprobs"),
    ({"truncation": "auto"}, "truncation"),
    ({"text": {"verbosity": "low"}}, "text.verbosity"),
    ({"text": {"format": {"type": "json_schema", "schema": {}}}}, "text.format.name"),
    ({"tools": [{"type": "web_search"}]}, "tools[0].type"),
    ({"max_output_tokens": 100_000}, "max_output_tokens"),
    ({"input": [{"role": "user", "content": [{"type": "input_image", "file_id": "file_1"}]}]},
     "input[0].content[0].file_id"),
    ({"input": [{"role": "user", "content": [{"type": "input_image", "image_url": "https://x/a.png"}]}]},
     "input"),
    ({"input": [{"type": "item_reference", "id": "msg_1"}]}, "input[0]"),
    ({"input": [{"role": "user", "content": [{"type": "bogus"}]}]}, "input[0].content[0]"),
    ({"input": []}, "input"),
    ({"unknown_field": 1}, "unknown_field"),
])
def test_what_cannot_be_honoured_is_a_400_naming_it(
    platform: Platform, engine: FakeEngine, fields: dict[str, Any], param: str
) -> None:
    error = assert_error(send(platform, "/v1/responses", {**BODY, **fields}), 400, param=param)
    assert engine.requests == []
    if param == "store":
        assert "zero retention" in str(error["message"])


def test_previous_response_id_is_refused_through_the_sdk(platform: Platform, engine: FakeEngine) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        platform.client.responses.create(model="chat-model", input="x", previous_response_id="resp_1")
    assert caught.value.param == "previous_response_id"
