"""Only declared, bounded fields reach an engine: what a hostile probe found (issue 9)."""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
import pytest

from tests.fakes import FakeEngine
from tests.gateway.conftest import Platform
from tests.gateway.test_errors import assert_error
from tests.wire.test_requests import chosen, replayed, schema_named, tools

HUGE = 10**30
CHAT = {"model": "chat-model", "messages": [{"role": "user", "content": "x"}]}
BODIES: dict[str, dict[str, Any]] = {
    "/v1/chat/completions": CHAT,
    "/v1/completions": {"model": "chat-model", "prompt": "x"},
    "/v1/embeddings": {"model": "embed-model", "input": "x"},
    "/v1/rerank": {"model": "embed-model", "query": "q", "documents": ["d"]},
}


def send(platform: Platform, path: str, body: dict[str, Any]) -> httpx.Response:
    # Python's json writes integers of any size, as a hostile client would.
    return httpx.post(f"{platform.url}{path}", content=json.dumps(body), headers={
        "Authorization": f"Bearer {platform.key}", "Content-Type": "application/json"})


@pytest.mark.parametrize(("path", "field"), [
    ("/v1/chat/completions", "seed"), ("/v1/chat/completions", "max_tokens"),
    ("/v1/chat/completions", "top_logprobs"), ("/v1/completions", "seed"), ("/v1/completions", "logprobs"),
    ("/v1/embeddings", "dimensions"), ("/v1/rerank", "top_n"),
    ("/v1/chat/completions", "any_unknown_field"), ("/v1/rerank", "any_unknown_field"),
])
def test_an_integer_past_64_bits_is_a_400_naming_it(
    platform: Platform, engine: FakeEngine, caplog: pytest.LogCaptureFixture, path: str, field: str
) -> None:
    with caplog.at_level(logging.DEBUG):
        response = send(platform, path, {**BODIES[path], field: HUGE})
    assert_error(response, 400, param=field)
    assert not engine.requests
    assert "Traceback" not in caplog.text and "unhandled" not in caplog.text


def test_an_integer_past_64_bits_inside_a_tool_schema_is_a_400(
    platform: Platform, engine: FakeEngine
) -> None:
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object", "x": HUGE}}}
    response = send(platform, "/v1/chat/completions", {**CHAT, "tools": [tool]})
    assert_error(response, 400, param="tools[0].function.parameters")
    assert not engine.requests


@pytest.mark.parametrize("field", ["n_predict", "cache_prompt", "id_slot", "slot_id", "n_probs", "grammar",
                                   "chat_template_kwargs", "ignore_eos"])
def test_engine_native_fields_are_refused(platform: Platform, engine: FakeEngine, field: str) -> None:
    response = send(platform, "/v1/chat/completions", {**CHAT, "max_tokens": 1, field: 2300})
    error = assert_error(response, 400, param=field)
    assert error["message"] == f"Unrecognized request argument supplied: {field}"
    assert not engine.requests


def test_nested_unknown_fields_never_reach_the_engine(platform: Platform, engine: FakeEngine) -> None:
    body = {"model": "chat-model", "stream_options": {"include_usage": True, "n_predict": 5},
            "messages": [{"role": "user", "content": "x", "n_predict": 2300, "refusal": None}]}
    assert send(platform, "/v1/chat/completions", body).status_code == 200
    sent = engine.requests[-1]
    assert sent["messages"] == [{"role": "user", "content": "x"}]
    assert "n_predict" not in json.dumps(sent)


def test_only_declared_fields_are_forwarded(platform: Platform, engine: FakeEngine) -> None:
    body = {**CHAT, "user": "u-1", "metadata": {"a": "b"}, "store": False, "service_tier": "auto",
            "top_k": 20, "min_p": 0.05, "repetition_penalty": 1.1, "seed": 7}
    assert send(platform, "/v1/chat/completions", body).status_code == 200
    sent = engine.requests[-1]
    assert not {"user", "metadata", "store", "service_tier"} & set(sent)
    assert (sent["top_k"], sent["min_p"], sent["seed"]) == (20, 0.05, 7)
    # vLLM's name and llama.cpp's, each engine reads its own
    assert sent["repetition_penalty"] == sent["repeat_penalty"] == 1.1
    assert send(platform, "/v1/embeddings", {**BODIES["/v1/embeddings"], "user": "u-1"}).status_code == 200
    assert "user" not in engine.requests[-1]


def test_store_true_is_refused(platform: Platform, engine: FakeEngine) -> None:
    assert_error(send(platform, "/v1/chat/completions", {**CHAT, "store": True}), 400, param="store")


def test_a_tool_message_needs_its_tool_call_id(platform: Platform, engine: FakeEngine) -> None:
    messages = [{"role": "user", "content": "x"},
                {"role": "assistant", "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
                {"role": "tool", "content": "42"}]
    response = send(platform, "/v1/chat/completions", {"model": "chat-model", "messages": messages})
    assert_error(response, 400, param="messages[2].tool_call_id")
    assert not engine.requests


@pytest.mark.parametrize(("fields", "param", "says"), [
    (tools("f" * 65), "tools[0].function.name", "at most 64 characters"),
    (tools("get.weather"), "tools[0].function.name", "pattern '^[a-zA-Z0-9_-]+$'"),
    (tools(*(f"f{i}" for i in range(129))), "tools", "at most 128 items"),
    (replayed(call_id="c" * 257), "messages[1].tool_calls[0].id", "at most 256 characters"),
    (replayed(answered="c" * 257), "messages[2].tool_call_id", "at most 256 characters"),
    (replayed(name="f" * 65), "messages[1].tool_calls[0].function.name", "at most 64 characters"),
    (replayed(participant="n" * 65), "messages[0].name", "at most 64 characters"),
    (chosen("f" * 65), "tool_choice.function.name", "at most 64 characters"),
    (schema_named("my schema"), "response_format.json_schema.name", "pattern '^[a-zA-Z0-9_-]+$'"),
])
def test_a_name_id_or_tool_list_past_its_bound_is_a_400_naming_it(
    platform: Platform, engine: FakeEngine, fields: dict[str, Any], param: str, says: str
) -> None:
    error = assert_error(send(platform, "/v1/chat/completions", {**CHAT, **fields}), 400, param=param)
    message = str(error["message"])
    assert message.startswith(f"Invalid value for '{param}': ") and says in message
    assert not engine.requests


def test_names_ids_and_tools_at_their_bounds_reach_the_engine(platform: Platform, engine: FakeEngine) -> None:
    call_id = "call:01/" + "c" * 248  # another provider's id, 256 characters: replayed as it was
    body = {**CHAT, **tools("f" * 64, *(f"f{i}" for i in range(127))),
            **replayed(call_id=call_id, name="f" * 64, answered=call_id, participant="n" * 64),
            **chosen("f" * 64), **schema_named("s" * 64)}
    assert send(platform, "/v1/chat/completions", body).status_code == 200
    sent = engine.requests[-1]
    assert sent["messages"][0]["name"] == "n" * 64
    assert sent["messages"][1]["tool_calls"][0]["id"] == sent["messages"][2]["tool_call_id"] == call_id
    assert sent["messages"][1]["tool_calls"][0]["function"]["name"] == "f" * 64


@pytest.mark.parametrize(("fields", "param"), [
    ({"tools": [{"type": "function", "name": "get.weather"}]}, "tools[0].name"),
    ({"tools": [{"type": "function", "name": f"f{i}"} for i in range(129)]}, "tools"),
    ({"tool_choice": {"type": "function", "name": "f" * 65}}, "tool_choice.name"),
    ({"text": {"format": {"type": "json_schema", "name": "s" * 65, "schema": {}}}}, "text.format.name"),
])
def test_the_responses_api_refuses_the_same_names_naming_them(
    platform: Platform, engine: FakeEngine, fields: dict[str, Any], param: str
) -> None:
    body = {"model": "chat-model", "input": "x", **fields}
    assert_error(send(platform, "/v1/responses", body), 400, param=param)
    assert not engine.requests
