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
