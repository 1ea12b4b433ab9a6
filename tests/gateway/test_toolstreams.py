"""Streamed tool calls: text the model writes as a call arrives as OpenAI's `delta.tool_calls` chunks."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest

from llmaas.gateway.toolcalls import ToolPolicy
from llmaas.gateway.toolstreams import ToolCallStream

AUTO = ToolPolicy(frozenset({"get_weather", "get_time"}), forced=False, single=False)
FORCED = ToolPolicy(frozenset({"get_weather"}), forced=True, single=True)
# As Qwen2.5 writes it through llama-server, piece by piece.
CALL = ['{"', "name", '":', ' "', "get", "_weather", '",', ' "', "arguments", '":', ' {"', "city", '":', ' "',
        "Paris", '"}}']


def chunk(delta: dict[str, Any] | None = None, finish: str | None = None, **extra: Any) -> bytes:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    return orjson.dumps({"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m",
                         "choices": choices, **extra})


def stream(pieces: list[str], finish: str = "stop") -> list[bytes]:
    return [chunk({"role": "assistant", "content": None}),
            *(chunk({"content": piece}) for piece in pieces),
            chunk({}, finish),
            chunk(None, usage={"prompt_tokens": 5, "completion_tokens": len(pieces), "total_tokens": 9})]


def edited(policy: ToolPolicy, events: list[bytes]) -> list[list[dict[str, Any]]]:
    """What the client gets for each engine event, parsed."""
    editor = ToolCallStream(policy)
    out = [[orjson.loads(data) for data in editor.edit(event)] for event in events]
    return [*out, [orjson.loads(data) for data in editor.flush()]]


def assembled(chunks: list[dict[str, Any]]) -> dict[str, Any]:
    """The message and finish reason, put together as the openai SDK does."""
    content, finish = "", None
    calls: dict[int, dict[str, Any]] = {}
    for c in chunks:
        for choice in c["choices"]:
            delta = choice["delta"]
            content += delta.get("content") or ""
            for call in delta.get("tool_calls") or []:
                whole = calls.setdefault(call["index"], {"id": None, "name": "", "arguments": ""})
                whole["id"] = whole["id"] or call.get("id")
                whole["name"] += call.get("function", {}).get("name") or ""
                whole["arguments"] += call.get("function", {}).get("arguments") or ""
            finish = choice["finish_reason"] or finish
    return {"content": content, "calls": [calls[i] for i in sorted(calls)], "finish": finish}


def flat(out: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    return [c for each in out for c in each]


@pytest.mark.parametrize("opening, closing",
                         [("", ""), ("```json\n", "\n```"), ("<tool_call>\n", "\n</tool_call>")])
def test_a_call_written_as_text_streams_as_a_tool_call(opening: str, closing: str) -> None:
    pieces = ([opening] if opening else []) + CALL + ([closing] if closing else [])
    out = edited(AUTO, stream(pieces))
    whole = assembled(flat(out))
    assert whole["content"] == "" and whole["finish"] == "tool_calls"
    [call] = whole["calls"]
    assert call["name"] == "get_weather" and call["id"].startswith("call_")
    assert json.loads(call["arguments"]) == {"city": "Paris"}
    deltas = [c["choices"][0]["delta"]["tool_calls"][0] for c in flat(out) if c["choices"]
              and "tool_calls" in c["choices"][0]["delta"]]
    assert deltas[0] == {"index": 0, "id": call["id"], "type": "function",
                         "function": {"name": "get_weather", "arguments": ""}}
    assert all(set(d) == {"index", "function"} and set(d["function"]) == {"arguments"} for d in deltas[1:])
    assert len(deltas) > 2, "the arguments come in pieces"
    assert out[0] == [orjson.loads(stream(pieces)[0])], "the role chunk goes out as it came"
    assert out[-2][-1]["usage"]["completion_tokens"] == len(pieces), "the usage chunk too"


def test_an_unforced_call_waits_for_the_end_of_the_answer() -> None:
    out = edited(AUTO, stream(CALL))
    assert not flat(out[1:len(CALL) + 1]), "nothing goes out while the call may yet be text"


def test_a_forced_call_goes_out_as_it_is_written() -> None:
    out = edited(FORCED, stream(CALL))
    head = CALL.index("arguments") + 3  # the piece that opens the arguments' object
    assert flat(out[1:head]) == []
    assert out[head][0]["choices"][0]["delta"]["tool_calls"][0]["function"]["name"] == "get_weather"
    assert assembled(flat(out))["finish"] == "tool_calls"


def test_text_goes_out_as_soon_as_it_cannot_be_a_call() -> None:
    events = stream(["It", " is", " sunny."])
    out = edited(AUTO, events)
    assert [c["choices"][0]["delta"] for c in out[1]] == [{"content": "It"}]
    assert out[2] == [orjson.loads(events[2])] and out[3] == [orjson.loads(events[3])]
    assert assembled(flat(out)) == {"content": "It is sunny.", "calls": [], "finish": "stop"}


@pytest.mark.parametrize("pieces", [
    [*CALL, "\nIt is 18 degrees."],  # more than a call: as for a whole answer, it is text
    ['{"answer":', " 42}"],  # JSON, not a call
    ['{"name": "delete_everything",', ' "arguments": {}}'],  # not an offered function
    ["```python\n", "print(1)\n```"],
    CALL[:-3],  # cut short
])
def test_anything_else_arrives_as_the_text_it_was(pieces: list[str]) -> None:
    finish = "length" if pieces == CALL[:-3] else "stop"
    whole = assembled(flat(edited(AUTO, stream(pieces, finish))))
    assert whole == {"content": "".join(pieces), "calls": [], "finish": finish}


def test_a_call_with_its_keys_in_another_order_is_recognised_at_the_end() -> None:
    whole = assembled(flat(edited(AUTO, stream(['{"arguments": {"city": "Oslo"},', ' "name": "get_time"}']))))
    assert whole["finish"] == "tool_calls" and whole["calls"][0]["name"] == "get_time"
    assert json.loads(whole["calls"][0]["arguments"]) == {"city": "Oslo"}


def test_a_forced_call_drops_what_follows_it() -> None:
    whole = assembled(flat(edited(FORCED, stream([*CALL, "\n\nThe weather is fine."]))))
    assert whole["content"] == "" and whole["finish"] == "tool_calls"
    assert json.loads(whole["calls"][0]["arguments"]) == {"city": "Paris"}


def test_a_stream_that_ends_without_finishing_gives_back_what_was_held() -> None:
    editor = ToolCallStream(AUTO)
    assert editor.edit(chunk({"content": '{"name": "get_weather"'})) == []
    [held] = editor.flush()
    assert orjson.loads(held)["choices"][0]["delta"] == {"content": '{"name": "get_weather"'}


def native(index: int, **function: str) -> dict[str, Any]:
    return {"tool_calls": [{"index": index, "function": function}]}


def test_calls_the_engine_parsed_pass_through_and_only_one_without_parallel_calls() -> None:
    events = [chunk(native(0, name="get_weather", arguments="")), chunk(native(0, arguments="{}")),
              chunk(native(1, name="get_time", arguments="{}")), chunk({}, "tool_calls")]
    assert flat(edited(AUTO, events)) == [orjson.loads(event) for event in events]
    single = ToolPolicy(AUTO.names, forced=False, single=True)
    whole = assembled(flat(edited(single, events)))
    assert [call["name"] for call in whole["calls"]] == ["get_weather"]
    assert whole["finish"] == "tool_calls"


# -- "required" with parallel calls: an array of calls ---------------------------------------------

SEVERAL = ToolPolicy(frozenset({"get_weather", "get_time"}), forced=True, single=False, several=True)
# As Qwen2.5 writes an array of calls under the constraint, piece by piece.
TWO_CALLS = ["[", *CALL[:-1], '"}},', ' {"', "name", '":', ' "get_time",', ' "arguments":', ' {"city": "Ro',
             'me"}', "}]"]


def split(pieces: list[str], size: int) -> list[str]:
    text = "".join(pieces)
    return [text[i:i + size] for i in range(0, len(text), size)]


@pytest.mark.parametrize("pieces",
                         [TWO_CALLS, split(TWO_CALLS, 1), split(TWO_CALLS, 7), ["".join(TWO_CALLS)]],
                         ids=["tokens", "chars", "sevens", "whole"])
def test_an_array_of_calls_streams_as_calls_with_their_own_index_and_id(pieces: list[str]) -> None:
    out = flat(edited(SEVERAL, stream(pieces)))
    whole = assembled(out)
    assert whole["content"] == "" and whole["finish"] == "tool_calls"
    assert [(call["name"], json.loads(call["arguments"])) for call in whole["calls"]] == [
        ("get_weather", {"city": "Paris"}), ("get_time", {"city": "Rome"})]
    assert len({call["id"] for call in whole["calls"]}) == 2
    deltas = [c["choices"][0]["delta"]["tool_calls"][0] for c in out
              if c["choices"] and "tool_calls" in c["choices"][0]["delta"]]
    heads = [d for d in deltas if "id" in d]
    assert [(d["index"], d["function"]) for d in heads] == [
        (0, {"name": "get_weather", "arguments": ""}), (1, {"name": "get_time", "arguments": ""})]
    indexes = [d["index"] for d in deltas]
    assert indexes == sorted(indexes), "each call whole before the next"


def test_each_call_of_an_array_goes_out_as_it_is_written() -> None:
    out = edited(SEVERAL, stream(TWO_CALLS))
    second = TWO_CALLS.index(" {\"city\": \"Ro") + 1  # the piece that opens the second call's arguments
    assert [c["choices"][0]["delta"]["tool_calls"][0]["index"] for c in out[second]] == [1, 1]
    assert not [c for c in flat(out[second + 1:]) if c["choices"] and "tool_calls" in c["choices"][0]["delta"]
                and c["choices"][0]["delta"]["tool_calls"][0]["index"] > 1]


def test_one_call_where_an_array_was_asked_still_streams_as_a_call() -> None:
    whole = assembled(flat(edited(SEVERAL, stream(CALL))))
    assert [call["name"] for call in whole["calls"]] == ["get_weather"] and whole["finish"] == "tool_calls"


def test_an_array_drops_what_follows_it_and_a_call_cut_short_stays_unfinished() -> None:
    noise = '\n[{"name": "get_weather", "arguments": {}}]'
    whole = assembled(flat(edited(SEVERAL, stream([*TWO_CALLS, noise]))))
    assert len(whole["calls"]) == 2 and whole["content"] == ""
    cut = assembled(flat(edited(SEVERAL, stream(TWO_CALLS[:-2], "length"))))
    assert [call["name"] for call in cut["calls"]] == ["get_weather", "get_time"]
    assert cut["finish"] == "length"


def test_an_array_with_keys_in_another_order_is_recognised_at_the_end() -> None:
    pieces = ['[{"arguments": {"city": "Oslo"},', ' "name": "get_time"},',
              ' {"arguments": {}, "name": "get_weather"}]']
    whole = assembled(flat(edited(SEVERAL, stream(pieces))))
    assert whole["finish"] == "tool_calls"
    assert [c["name"] for c in whole["calls"]] == ["get_time", "get_weather"]
