"""The SSE relay reads whatever the engine sent and writes whole events, however the network cut them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace

import orjson
import pytest

from llmaas.gateway.relay import UpstreamClient
from llmaas.gateway.shapes import PLATFORM_FINGERPRINT
from llmaas.gateway.streams import MAX_EVENT_BYTES, EventEditor, StreamEnd, relay_stream
from llmaas.gateway.toolcalls import ToolPolicy
from llmaas.gateway.toolstreams import ToolCallStream
from llmaas.observability.metrics import Metrics
from llmaas.routing import UpstreamPool, UpstreamTarget


def chunk(**fields: object) -> bytes:
    return b"data: " + orjson.dumps({"id": "c1", "object": "chat.completion.chunk", "model": "engine-name",
                                     **fields}) + b"\n\n"


WORDS = [chunk(choices=[{"index": 0, "delta": {"content": word}}]) for word in ("Hel", "lo", "!")]
USAGE = chunk(choices=[], usage={"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8})
STREAM = b": keep-alive comment\n\n" + b"".join(WORDS) + USAGE + b"data: [DONE]\n\n"


def every(size: int) -> Callable[[bytes], list[bytes]]:
    return lambda body: [body[i:i + size] for i in range(0, len(body), size)]


def by_event(body: bytes) -> list[bytes]:
    return [event + b"\n\n" for event in body.split(b"\n\n")[:-1]]


HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"


@asynccontextmanager
async def engine(pieces: list[bytes]) -> AsyncIterator[str]:
    """An HTTP server that answers one SSE response, written in `pieces` with a pause after each."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length"))
        await reader.readexactly(length)
        writer.write(HEAD)
        for piece in pieces:
            writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            await writer.drain()
            await asyncio.sleep(0.002)  # the relay reads each piece on its own
        writer.write(b"0\r\n\r\n")
        writer.close()
        await writer.wait_closed()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    async with server:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1"


def relay(pieces: list[bytes], *, include_usage: bool,
          editor: EventEditor | None = None) -> tuple[list[bytes], StreamEnd]:
    """What the client is sent, write by write, and what the relay reports for billing."""

    async def main() -> tuple[list[bytes], StreamEnd]:
        ends: list[StreamEnd] = []

        async def on_end(end: StreamEnd) -> None:
            ends.append(end)

        client = UpstreamClient(timeout_s=5)
        try:
            async with engine(pieces) as url:
                target = UpstreamTarget(base_url=url, model="engine-name", healthy=True)
                upstream = client.post(UpstreamPool("public-name", [target]), "/chat/completions",
                                       json=lambda target: {"model": target.model})
                relayed = await relay_stream(upstream, public_model="public-name",
                                             include_usage=include_usage, metrics=Metrics(), on_end=on_end,
                                             editor=editor)
                writes = [write async for write in relayed]
        finally:
            await client.close()
        return writes, ends[0]

    return asyncio.run(main())


def timed(end: StreamEnd) -> StreamEnd:
    """`end` without its timings, once they are checked: a first token came, and then the rest."""
    assert end.first_token_s is not None and end.first_token_s >= 0 and end.decode_s >= 0
    return replace(end, first_token_s=None, decode_s=0.0)


def expected(include_usage: bool) -> bytes:
    shown = STREAM if include_usage else STREAM.replace(USAGE, b"")
    return shown.replace(b'"model":"engine-name"', b'"model":"public-name"')


@pytest.mark.parametrize("cut", [by_event, lambda body: [body], every(7), every(1)],
                         ids=["by event", "in one piece", "every 7 bytes", "every byte"])
@pytest.mark.parametrize("include_usage", [True, False])
def test_whole_events_come_out_however_the_stream_was_cut(
    cut: Callable[[bytes], list[bytes]], include_usage: bool
) -> None:
    writes, end = relay(cut(STREAM), include_usage=include_usage)
    assert b"".join(writes) == expected(include_usage)
    assert all(write.endswith(b"\n\n") for write in writes), "no write ends inside an event"
    assert timed(end) == StreamEnd(usage={"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
                            content_chunks=3)


def test_several_events_in_one_read_go_out_in_one_write() -> None:
    writes, _ = relay([b"".join(WORDS), USAGE + b"data: [DONE]\n\n"], include_usage=True)
    assert len(writes) == 2 and writes[0].count(b"data: ") == 3


def test_crlf_framing_is_understood() -> None:
    writes, end = relay([STREAM.replace(b"\n", b"\r\n")], include_usage=False)
    assert b"".join(writes) == expected(include_usage=False)
    assert end.content_chunks == 3


def test_a_stream_cut_short_ends_with_an_error_event_and_bills_what_came() -> None:
    writes, end = relay([WORDS[0], WORDS[1][:-2]], include_usage=True)  # no end, no [DONE]
    assert writes[0] == WORDS[0].replace(b"engine-name", b"public-name")
    assert writes[1] == WORDS[1].replace(b"engine-name", b"public-name"), "the unterminated last event"
    assert b'"code":"upstream_error"' in writes[2]
    assert timed(end) == StreamEnd(usage=None, content_chunks=2)


def test_an_event_that_never_ends_is_not_held_without_bound() -> None:
    endless = b"data: " + b"x" * (MAX_EVENT_BYTES + 1)  # no blank line, ever
    writes, end = relay([WORDS[0], endless[: len(endless) // 2], endless[len(endless) // 2:]],
                        include_usage=True)
    assert writes[0] == WORDS[0].replace(b"engine-name", b"public-name")
    assert len(writes) == 2 and b'"code":"upstream_error"' in writes[1]
    assert timed(end) == StreamEnd(usage=None, content_chunks=1)


LLAMA = b"".join([
    chunk(choices=[{"index": 0, "delta": {"content": "Hi"}}], system_fingerprint="b0-llama-cpp-0.3.36"),
    chunk(choices=[{"index": 0, "delta": {}, "finish_reason": "stop"}], system_fingerprint="b0-llama-cpp",
          timings={"prompt_n": 5, "predicted_ms": 2.5}),
    chunk(choices=[], system_fingerprint="b0-llama-cpp", timings={"prompt_n": 5},
          usage={"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6,
                 "prompt_tokens_details": {"cached_tokens": 4}}),
    b"data: [DONE]\n\n",
])


@pytest.mark.parametrize("cut", [by_event, every(7)], ids=["by event", "every 7 bytes"])
def test_engine_internals_do_not_reach_the_client(cut: Callable[[bytes], list[bytes]]) -> None:
    writes, end = relay(cut(LLAMA), include_usage=True)
    events = [orjson.loads(e[6:]) for e in by_event(b"".join(writes))[:-1]]
    assert [e.get("system_fingerprint", "absent") for e in events] == [PLATFORM_FINGERPRINT] * 3
    assert not [e for e in events if "timings" in e]
    assert events[-1]["usage"]["prompt_tokens_details"] == {"cached_tokens": 0}
    assert end.usage is not None and end.usage["prompt_tokens"] == 5


TEXT = [chunk(object="text_completion", choices=[{"index": 0, "text": word, "finish_reason": None}])
        for word in (" 4", ",")]
TEXT_END = chunk(object="text_completion", choices=[{"index": 0, "text": "", "finish_reason": "length"}],
                 usage={"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7})


@pytest.mark.parametrize("include_usage", [True, False])
def test_text_completion_usage_comes_in_a_last_chunk_of_its_own(include_usage: bool) -> None:
    writes, end = relay([*TEXT, TEXT_END, b"data: [DONE]\n\n"], include_usage=include_usage)
    events = [orjson.loads(e[6:]) for e in by_event(b"".join(writes))[:-1]]
    assert [e["choices"][0]["finish_reason"] for e in events if e["choices"]] == [None, None, "length"]
    assert all(e["usage"] is None for e in events if e["choices"] and "usage" in e)
    usage_chunks = [e for e in events if not e["choices"]]
    if include_usage:
        assert usage_chunks == [{**orjson.loads(TEXT_END[6:]), "model": "public-name", "choices": []}]
    else:
        assert usage_chunks == []
    assert end.usage == {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}


CALL = ['{"name": "get_', 'weather", "arguments": {"', 'city": "Paris"', "}}"]
TOOLS = ToolPolicy(frozenset({"get_weather"}), forced=False, single=False)


@pytest.mark.parametrize("cut", [by_event, every(5)], ids=["by event", "every 5 bytes"])
def test_a_call_written_as_text_is_relayed_as_tool_call_events(cut: Callable[[bytes], list[bytes]]) -> None:
    engine_events = b"".join([
        *(chunk(choices=[{"index": 0, "delta": {"content": p}}], system_fingerprint="b0") for p in CALL),
        chunk(choices=[{"index": 0, "delta": {}, "finish_reason": "stop"}], timings={"prompt_n": 5}), USAGE,
        b"data: [DONE]\n\n",
    ])
    writes, end = relay(cut(engine_events), include_usage=False, editor=ToolCallStream(TOOLS))
    assert all(write.endswith(b"\n\n") for write in writes)
    events = by_event(b"".join(writes))
    assert events[-1] == b"data: [DONE]\n\n"
    chunks = [orjson.loads(event[6:]) for event in events[:-1]]
    deltas = [c["choices"][0]["delta"] for c in chunks]
    assert not [d for d in deltas if "content" in d]
    assert "".join(d["tool_calls"][0]["function"]["arguments"] for d in deltas[:-1]) == '{"city": "Paris"}'
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls" and "timings" not in chunks[-1]
    assert {c["model"] for c in chunks} == {"public-name"}
    assert {c.get("system_fingerprint", PLATFORM_FINGERPRINT) for c in chunks} == {PLATFORM_FINGERPRINT}
    assert timed(end) == StreamEnd(usage={"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
                            content_chunks=len(CALL))


def test_a_call_held_when_the_engine_dies_comes_out_as_text_before_the_error() -> None:
    writes, _ = relay([chunk(choices=[{"index": 0, "delta": {"content": CALL[0]}}])], include_usage=False,
                      editor=ToolCallStream(TOOLS))
    events = by_event(b"".join(writes))
    assert orjson.loads(events[0][6:])["choices"][0]["delta"] == {"content": CALL[0]}
    assert b'"code":"upstream_error"' in events[1]
