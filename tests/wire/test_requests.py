"""The wire models bound every field a client sends: numbers an engine could not read, fields no engine
should see."""

from __future__ import annotations

import json
import types
from typing import Any, Union, get_args, get_origin

import pytest
from pydantic import BaseModel, ValidationError

from llmaas.wire.requests import (
    ChatCompletionRequest,
    CompletionRequest,
    EmbeddingRequest,
    RerankRequest,
)
from llmaas.wire.responses_api import CreateResponseRequest

MINIMAL: dict[type[BaseModel], dict[str, Any]] = {
    ChatCompletionRequest: {"model": "m", "messages": [{"role": "user", "content": "x"}]},
    CompletionRequest: {"model": "m", "prompt": "x"},
    EmbeddingRequest: {"model": "m", "input": "x"},
    RerankRequest: {"model": "m", "query": "q", "documents": ["d"]},
}
HUGE = 10**30


def _json(body: object) -> bytes:
    """JSON as a client may write it: Python's json module writes integers of any size."""
    return json.dumps(body).encode()


def _holds_int(annotation: Any) -> bool:
    if annotation is int:
        return True
    if get_origin(annotation) in (Union, types.UnionType):
        return any(_holds_int(arg) for arg in get_args(annotation))
    return False


def _int_fields() -> list[tuple[type[BaseModel], str]]:
    return [(body, name) for body in MINIMAL for name, field in body.model_fields.items()
            if _holds_int(field.annotation)]


def test_every_integer_field_is_found() -> None:
    names = {f"{body.__name__}.{name}" for body, name in _int_fields()}
    assert {"ChatCompletionRequest.seed", "ChatCompletionRequest.max_tokens", "ChatCompletionRequest.top_k",
            "CompletionRequest.logprobs", "RerankRequest.top_n", "EmbeddingRequest.dimensions"} <= names


@pytest.mark.parametrize(("body", "name"), _int_fields(), ids=lambda x: getattr(x, "__name__", x))
@pytest.mark.parametrize("value", [HUGE, -HUGE])
def test_integers_past_64_bits_are_refused_by_name(body: type[BaseModel], name: str, value: int) -> None:
    with pytest.raises(ValidationError) as caught:
        body.model_validate_json(_json({**MINIMAL[body], name: value}))
    assert caught.value.errors()[0]["loc"][0] == name


@pytest.mark.parametrize("body", list(MINIMAL), ids=lambda b: b.__name__)
def test_a_field_the_platform_does_not_know_is_refused(body: type[BaseModel]) -> None:
    for extra in ({"n_predict": 2300}, {"cache_prompt": True}, {"id_slot": 0}, {"x": HUGE}):
        with pytest.raises(ValidationError) as caught:
            body.model_validate({**MINIMAL[body], **extra})
        error = caught.value.errors()[0]
        assert (error["type"], error["loc"]) == ("extra_forbidden", tuple(extra))


def test_nested_fields_the_platform_does_not_know_are_dropped() -> None:
    request = ChatCompletionRequest.model_validate_json(_json({
        "model": "m", "stream_options": {"include_usage": True, "continuous_usage_stats": True},
        "messages": [{"role": "assistant", "content": "x", "refusal": None, "n_predict": HUGE}],
    }))
    dumped = request.model_dump(exclude_unset=True)
    assert dumped["messages"] == [{"role": "assistant", "content": "x"}]
    assert dumped["stream_options"] == {"include_usage": True}
    assert "n_predict" not in str(dumped)


@pytest.mark.parametrize("where", ["tools", "response_format"])
@pytest.mark.parametrize("value", [HUGE, "deep"])
def test_free_form_json_is_bounded(where: str, value: object) -> None:
    inner: object = {"type": "integer", "maximum": HUGE}
    if value == "deep":
        inner = {}
        for _ in range(100):
            inner = {"properties": inner}
    body: dict[str, Any] = {**MINIMAL[ChatCompletionRequest]}
    if where == "tools":
        body["tools"] = [{"type": "function", "function": {"name": "f", "parameters": inner}}]
    else:
        body["response_format"] = {"type": "json_schema", "json_schema": {"name": "s", "schema": inner}}
    with pytest.raises(ValidationError) as caught:
        ChatCompletionRequest.model_validate_json(_json(body))
    assert caught.value.errors()[0]["loc"][0] == where


@pytest.mark.parametrize(("field", "value"), [
    ("logit_bias", {"abc": 1}), ("logit_bias", {"1": 101}), ("logit_bias", {str(i): 1 for i in range(301)}),
    ("stop", [str(i) for i in range(17)]), ("store", True), ("model", "m" * 257), ("top_k", 100_001),
    ("min_p", 1.5), ("repetition_penalty", 0),
])
def test_bounded_fields(field: str, value: object) -> None:
    with pytest.raises(ValidationError) as caught:
        ChatCompletionRequest.model_validate({**MINIMAL[ChatCompletionRequest], field: value})
    assert caught.value.errors()[0]["loc"][0] == field


def test_openai_service_fields_are_accepted() -> None:
    ChatCompletionRequest.model_validate({
        **MINIMAL[ChatCompletionRequest], "store": False, "metadata": {"a": "b"}, "service_tier": "auto",
        "user": "u1", "logit_bias": {"50256": -100}, "stop": ["a", "b"],
        "top_k": 40, "min_p": 0.05, "repetition_penalty": 1.1,
    })


def tools(*names: str) -> dict[str, Any]:
    return {"tools": [{"type": "function", "function": {"name": name}} for name in names]}


def replayed(call_id: str = "c1", name: str = "f", answered: str = "c1",
             participant: str = "ann") -> dict[str, Any]:
    """A conversation replaying an earlier call: its id, its function's name, the tool message's id."""
    return {"messages": [
        {"role": "user", "content": "x", "name": participant},
        {"role": "assistant", "tool_calls": [
            {"id": call_id, "type": "function", "function": {"name": name, "arguments": "{}"}}]},
        {"role": "tool", "content": "42", "tool_call_id": answered},
    ]}


def chosen(name: str) -> dict[str, Any]:
    return {"tool_choice": {"type": "function", "function": {"name": name}}}


def schema_named(name: str) -> dict[str, Any]:
    return {"response_format": {"type": "json_schema", "json_schema": {"name": name, "schema": {}}}}


NAME = ("tools", 0, "function", "name")


@pytest.mark.parametrize(("fields", "loc"), [
    (tools("f" * 65), NAME), (tools(""), NAME), (tools("get.weather"), NAME), (tools("get weather"), NAME),
    (tools("get_weather\n"), NAME), (tools("météo"), NAME),
    (tools(*(f"f{i}" for i in range(129))), ("tools",)),
    (replayed(call_id="c" * 257), ("messages", 1, "tool_calls", 0, "id")),
    (replayed(answered="c" * 257), ("messages", 2, "tool_call_id")),
    (replayed(name="f" * 65), ("messages", 1, "tool_calls", 0, "function", "name")),
    (replayed(name=""), ("messages", 1, "tool_calls", 0, "function", "name")),
    (replayed(participant="n" * 65), ("messages", 0, "name")),
    (chosen("f" * 65), ("tool_choice", "object", "function", "name")),
    (chosen(""), ("tool_choice", "object", "function", "name")),
    (schema_named("s" * 65), ("response_format", "json_schema", "name")),
    (schema_named("my schema"), ("response_format", "json_schema", "name")),
])
def test_names_ids_and_tools_are_bounded(fields: dict[str, Any], loc: tuple[str | int, ...]) -> None:
    with pytest.raises(ValidationError) as caught:
        ChatCompletionRequest.model_validate({**MINIMAL[ChatCompletionRequest], **fields})
    assert caught.value.errors()[0]["loc"] == loc


def test_names_ids_and_tools_at_their_bounds_are_accepted() -> None:
    """OpenAI's rules for what a client defines; ids and replayed names as other providers write them."""
    request = ChatCompletionRequest.model_validate({
        **MINIMAL[ChatCompletionRequest],
        **tools("f" * 64, "get_weather", "Get-Weather-2", *(f"f{i}" for i in range(125))),
        **replayed(call_id="call:01/" + "c" * 248, name="f" * 64, answered="call:01/" + "c" * 248,
                   participant="Ann Lee, " + "n" * 55),
        **chosen("f" * 64), **schema_named("s" * 64),
    })
    assert request.tools is not None and len(request.tools) == 128
    assert request.messages[2].tool_call_id == "call:01/" + "c" * 248
    replayed_elsewhere = replayed(name="weather.current")  # another provider's name, taken as written
    assert ChatCompletionRequest.model_validate({**MINIMAL[ChatCompletionRequest], **replayed_elsewhere})


def test_a_tool_choice_that_is_neither_a_mode_nor_a_function_is_refused_as_such() -> None:
    for choice, loc in (("sometimes", ("tool_choice", "str")), (5, ("tool_choice", "object")),
                        ({"type": "function"}, ("tool_choice", "object", "function"))):
        with pytest.raises(ValidationError) as caught:
            ChatCompletionRequest.model_validate({**MINIMAL[ChatCompletionRequest], "tool_choice": choice})
        assert [error["loc"] for error in caught.value.errors()] == [loc]


RESPONSE: dict[str, Any] = {"model": "m", "input": "x"}


@pytest.mark.parametrize(("fields", "loc"), [
    ({"tools": [{"type": "function", "name": "get.weather"}]}, ("tools", 0, "name")),
    ({"tools": [{"type": "function", "name": f"f{i}"} for i in range(129)]}, ("tools",)),
    ({"tool_choice": {"type": "function", "name": "f" * 65}}, ("tool_choice", "object", "name")),
    ({"text": {"format": {"type": "json_schema", "name": "my schema", "schema": {}}}},
     ("text", "format", "name")),
])
def test_the_responses_api_shares_chats_bounds(fields: dict[str, Any], loc: tuple[str | int, ...]) -> None:
    """What /v1/responses takes, its chat translation takes too: the same types bound both."""
    with pytest.raises(ValidationError) as caught:
        CreateResponseRequest.model_validate({**RESPONSE, **fields})
    assert caught.value.errors()[0]["loc"] == loc
