"""A chat stream retold as the Responses API's events (ResponseEvents), without a server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import Any

import orjson

from llmaas.gateway.responseitems import response_object
from llmaas.gateway.responsestreams import ResponseEvents
from llmaas.wire.errors import error_event
from llmaas.wire.responses_api import CreateResponseRequest
from tests.gateway.test_toolstreams import chunk


def retold(writes: list[bytes]) -> list[dict[str, Any]]:
    """The events a client gets for the relay's `writes`, parsed, each checked for its `event:` line."""

    async def relayed() -> AsyncGenerator[bytes, None]:
        for write in writes:
            yield write

    async def collect() -> list[bytes]:
        request = CreateResponseRequest.model_validate({"model": "m", "input": "x"})
        events = ResponseEvents(response_object(request, model="m", status="in_progress"))
        return [out async for out in events(relayed())]

    parsed = []
    for event in b"".join(asyncio.run(collect())).split(b"\n\n")[:-1]:
        kind, data = event.split(b"\n")
        payload = orjson.loads(data.removeprefix(b"data: "))
        assert kind == b"event: " + payload["type"].encode()
        parsed.append(payload)
    assert [e["sequence_number"] for e in parsed] == list(range(len(parsed)))
    return parsed


def sse(*payloads: bytes) -> bytes:
    return b"".join(b"data: " + p + b"\n\n" for p in payloads)


USAGE = chunk(None, usage={"prompt_tokens": 5, "completion_tokens": 4, "total_tokens": 9})


def test_an_answer_cut_at_its_bound_is_incomplete() -> None:
    events = retold([sse(chunk({"role": "assistant", "content": "Hel"}), chunk({"content": "lo"})),
                     sse(chunk({}, "length"), USAGE, b"[DONE]")])
    last = events[-1]
    assert last["type"] == "response.incomplete"
    assert last["response"]["incomplete_details"] == {"reason": "max_output_tokens"}
    assert last["response"]["output"][0]["content"][0]["text"] == "Hello"
    assert last["response"]["output"][0]["status"] == "incomplete"
    assert last["response"]["usage"]["total_tokens"] == 9


def test_text_then_parallel_native_calls_are_items_in_order() -> None:
    def call(index: int, **function: str) -> bytes:
        head = {"id": f"call_{index}", "type": "function"} if "name" in function else {}
        return chunk({"tool_calls": [{"index": index, **head, "function": function}]})

    events = retold([sse(chunk({"content": "Checking."}), call(0, name="a", arguments=""),
                         call(0, arguments='{"x":'), call(0, arguments="1}"),
                         call(1, name="b", arguments="{}"), chunk({}, "tool_calls"), USAGE, b"[DONE]")])
    output = events[-1]["response"]["output"]
    assert [(item["type"], item.get("name"), item.get("arguments")) for item in output] == [
        ("message", None, None), ("function_call", "a", '{"x":1}'), ("function_call", "b", "{}")]
    added = [e["output_index"] for e in events if e["type"] == "response.output_item.added"]
    done = [e["output_index"] for e in events if e["type"] == "response.output_item.done"]
    assert added == done == [0, 1, 2]
    arguments = [e for e in events if e["type"] == "response.function_call_arguments.done"]
    assert [(e["name"], e["arguments"]) for e in arguments] == [("a", '{"x":1}'), ("b", "{}")]


def test_an_error_event_becomes_response_failed_and_ends_the_stream() -> None:
    events = retold([sse(chunk({"content": "Hi"})),
                     error_event("The engine stopped before finishing the answer.", code="upstream_error"),
                     sse(b"[DONE]")])
    assert events[-1]["type"] == "response.failed"
    assert events[-1]["response"]["error"]["code"] == "server_error"
    assert [e["type"] for e in events].count("response.failed") == 1


def test_a_stream_that_ends_without_done_still_completes() -> None:
    events = retold([sse(chunk({"content": "Hi"}), chunk({}, "stop"))])
    assert events[-1]["type"] == "response.completed" and "usage" not in events[-1]["response"]


def test_the_relay_is_closed_when_the_client_leaves() -> None:
    closed = []

    async def relayed() -> AsyncGenerator[bytes, None]:
        try:
            yield sse(chunk({"content": "Hi"}))
            yield sse(chunk({"content": " there"}))
        finally:
            closed.append(True)  # the relay settles the bill here

    async def leave() -> None:
        request = CreateResponseRequest.model_validate({"model": "m", "input": "x"})
        events = ResponseEvents(response_object(request, model="m", status="in_progress"))(relayed())
        await anext(events)
        await anext(events)
        await events.aclose()  # type: ignore[attr-defined]

    asyncio.run(leave())
    assert closed == [True]
