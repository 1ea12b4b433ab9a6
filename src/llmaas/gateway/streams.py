"""Relaying a server-sent event stream from an engine to the client.

Events pass through as bytes, as many as the engine sent since the last read in one write; only a
chunk that carries usage or engine internals is parsed (shapes.py), and the engine's fingerprint is
replaced in the bytes. A chat with tools also goes through an `EventEditor` (toolstreams.py), which
parses each event. Errors before the first byte become ordinary HTTP errors; after it, one SSE error
event closes the stream. However the stream ends (finished, engine failure, client gone), `on_end`
learns what was generated, for billing.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiohttp
import anyio
import orjson

from llmaas.gateway.shapes import FINGERPRINT, MARKERS, NO_FINGERPRINT, scrub
from llmaas.observability.metrics import Metrics
from llmaas.routing import UpstreamTarget
from llmaas.wire.errors import error_event

Upstream = AbstractAsyncContextManager[tuple[UpstreamTarget, aiohttp.ClientResponse]]


class EventEditor(Protocol):
    """Rewrites a stream's events: each `data:` payload becomes zero, one or several."""

    def edit(self, data: bytes) -> list[bytes]: ...

    def flush(self) -> list[bytes]:
        """What the editor still holds, when the stream ends."""
        ...


@dataclass(frozen=True)
class StreamEnd:
    usage: dict[str, Any] | None  # the engine's own count, when the stream got that far
    content_chunks: int  # chunks with generated content relayed: about one token each
    first_token_s: float | None = None  # from the relay's start to the first content; None: none came
    decode_s: float = 0.0  # from the first content to the end of the stream


async def relay_stream(
    upstream: Upstream, *, public_model: str, include_usage: bool, metrics: Metrics,
    on_end: Callable[[StreamEnd], Awaitable[None]], editor: EventEditor | None = None,
) -> AsyncGenerator[bytes, None]:
    """Open the upstream stream now (so its errors are HTTP errors) and return the relay."""
    events = _relay(upstream, public_model, include_usage, metrics, on_end, editor)
    await anext(events)  # runs up to the upstream's 200, or raises
    return events


async def _relay(
    upstream: Upstream, public_model: str, include_usage: bool, metrics: Metrics,
    on_end: Callable[[StreamEnd], Awaitable[None]], editor: EventEditor | None,
) -> AsyncGenerator[bytes, None]:
    tally = _Tally(public_model, include_usage, metrics, editor)
    async with upstream as (target, response):
        yield b""
        rename = _renamer(target.model, public_model)
        pending = b""
        read = response.content.readany  # what `iter_any` calls, without its iterator's frame per read
        try:
            # One read and one write per network chunk, not per line: a busy engine's chunk often
            # holds several events, and each pass through the loop and the ASGI stack costs CPU.
            while received := await read():
                *events, pending = _events(pending + received)
                if relayed := b"".join([tally.event(event) for event in events]):
                    yield rename(relayed)
                if len(pending) > MAX_EVENT_BYTES:  # no end in sight: a broken engine, not an answer
                    break
            if pending.strip() and len(pending) <= MAX_EVENT_BYTES and (last := tally.event(pending)):
                yield rename(last)
            if not tally.done:
                if held := tally.flush():
                    yield rename(held)
                yield error_event("The engine stopped before finishing the answer.", code="upstream_error")
        except (aiohttp.ClientError, TimeoutError):
            yield error_event("The engine stopped before finishing the answer.", code="upstream_error")
        finally:
            # Shielded: when the client leaves, the relay is cancelled, and the bill must still land.
            with anyio.CancelScope(shield=True):
                await on_end(tally.end())


_EVENT_END = re.compile(rb"\r?\n\r?\n")  # a blank line ends an event


def _events(received: bytes) -> list[bytes]:
    """The complete events in `received`, then what remains of it. Engines end lines with a bare
    newline, and a plain split costs a fifth of the regex, which only CR LF line ends need."""
    return _EVENT_END.split(received) if b"\r" in received else received.split(b"\n\n")


MAX_EVENT_BYTES = 1 << 20  # far above any chunk an engine sends; the relay holds no more than this


@dataclass
class _Tally:
    """What the relay learns from the events it passes on: usage, content, the end."""

    public_model: str
    include_usage: bool
    metrics: Metrics
    editor: EventEditor | None = None
    started: float = field(default_factory=time.perf_counter)
    usage: dict[str, Any] | None = None  # the engine's own count, once its usage chunk passed
    content_chunks: int = 0
    first_token_at: float | None = None
    done: bool = False  # [DONE] seen

    def end(self) -> StreamEnd:
        if self.first_token_at is None:
            return StreamEnd(self.usage, self.content_chunks)
        return StreamEnd(self.usage, self.content_chunks, self.first_token_at - self.started,
                         time.perf_counter() - self.first_token_at)

    def event(self, event: bytes) -> bytes:
        """The event as the client gets it, blank line included; b"" when nothing of it is shown.

        One engine event may become several (`after`): a usage chunk split off, a held tool call."""
        if (self.editor is None and event.startswith(b"data:") and b"\n" not in event
                and b"\r" not in event):
            # Nearly every event: one `data:` line passed on as it came. The general case below
            # gives the same bytes; this skips its splitting and joining.
            data = event[5:].strip()
            if data == b"[DONE]":
                self.done = True
                return event + b"\n\n"
            if not MARKERS.search(data):
                self._count(data)
                return event + b"\n\n"
        kept: list[bytes] = []
        after: list[bytes] = []
        for line in event.splitlines():
            if line.startswith(b"data:"):
                data = line[5:].strip()
                if data == b"[DONE]":
                    self.done = True
                    if self.editor is not None:
                        after += self._held()
                        after.append(b"data: [DONE]\n\n")
                        continue
                else:
                    self._count(data)
                    if self.editor is not None:
                        after += [b"data: " + shown + b"\n\n" for edited in self.editor.edit(data)
                                  for shown in self._shown(edited)]
                        continue
                    if MARKERS.search(data):
                        shown = self._shown(data)
                        line = b"data: " + shown[0] if shown else b""
                        after += [b"data: " + more + b"\n\n" for more in shown[1:]]
            if line.strip():
                kept.append(line)
        first = b"\n".join(kept) + b"\n\n" if kept else b""
        return first + b"".join(after) if after else first

    def _count(self, data: bytes) -> None:
        """A chunk with generated content: about one token; the first one times the first token."""
        if b'"content":"' in data or b'"text":"' in data or b'"tool_calls"' in data:
            if not self.content_chunks:
                self.first_token_at = time.perf_counter()
                self.metrics.first_token.labels(self.public_model).observe(self.first_token_at - self.started)
            self.content_chunks += 1

    def flush(self) -> bytes:
        """What the editor still held, as events, when the engine's stream ended without [DONE]."""
        return b"".join(self._held())

    def _held(self) -> list[bytes]:
        if self.editor is None:
            return []
        return [b"data: " + shown + b"\n\n" for held in self.editor.flush() for shown in self._shown(held)]

    def _shown(self, data: bytes) -> list[bytes]:
        """The payloads the client gets for one: usage counted and put where OpenAI puts it, the
        engine's internals removed."""
        if not MARKERS.search(data):
            return [data]
        chunk: dict[str, Any] = orjson.loads(data)
        scrub(chunk)
        usage = chunk.get("usage")
        if usage:
            self.metrics.count_tokens(self.public_model, usage)
            self.usage = usage
        if not chunk.get("choices"):  # the usage chunk
            return [orjson.dumps(chunk)] if self.include_usage and usage else []
        if not usage:
            return [orjson.dumps(chunk)]
        # Usage on a chunk with choices (llama.cpp's text completions): OpenAI sends null usage on
        # every chunk and, when asked, the usage in a last chunk of its own, with no choices.
        chunk["usage"] = None
        shown = [orjson.dumps(chunk)]
        if self.include_usage:
            shown.append(orjson.dumps({**chunk, "choices": [], "usage": usage}))
        return shown


def _renamer(upstream_model: str, public_model: str) -> Callable[[bytes], bytes]:
    """What each write gets: the catalog's model name, and no engine fingerprint."""
    hide = FINGERPRINT.sub
    if upstream_model == public_model:
        return lambda events: hide(NO_FINGERPRINT, events)
    old = b'"model":' + orjson.dumps(upstream_model)
    new = b'"model":' + orjson.dumps(public_model)
    return lambda events: hide(NO_FINGERPRINT, events.replace(old, new))

