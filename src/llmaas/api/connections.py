"""HTTP/1.1 connections: uvicorn's httptools protocol with a bound on each request's head and body.

httptools reads a request line and headers of any size, for as long as the client takes: a 40 MB
header is buffered whole, and a client that dribbles its head a byte at a time (slowloris) holds its
connection forever. Here a head is at most `max_head_bytes` (431, then the connection is closed) and
must be complete within `head_timeout_s` of the connection's start or of the previous response's end
(the connection is closed; in practice between 1 and 1.5 times the timeout). Bodies are bounded in size
by `RequestContext`, after the head, and here in time: a body must arrive within `body_timeout_s` of
its head's end (408 when no response has started, then the connection is closed), not counting the
time the server itself stopped reading (flow control, while the application has not yet read what came).

A request httptools cannot parse (a control character in a header, say) is a JSON 400 like every other
error, not uvicorn's plain text. Over TLS these answers carry HSTS, as every other HTTPS response does
(`RequestContext`).

The cost on an ordinary request is a count per read and two more parser callbacks, 1 to 2 µs
(`python -m bench.request_heads`): no timer per request, one per connection.

    config = uvicorn.Config(app, http=bounded_http(max_head_bytes=32768, head_timeout_s=10.0,
                                                   body_timeout_s=120.0))
"""

from __future__ import annotations

import asyncio
import math
from asyncio import TimerHandle
from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol, RequestResponseCycle

from llmaas.api.middleware import HSTS
from llmaas.wire.errors import error_json

_END_OF_HEAD = b"\r\n\r\n"
_TICKS = 2  # looks per timeout (the shorter of the two)
_NOT_WAITING = object()


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with its request heads bounded in size and time, and its request
    bodies in time."""

    max_head_bytes = 32 * 1024
    head_timeout_s = 10.0
    body_timeout_s = 120.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The head being read follows this request's (None: the connection's first head). Once its
        # head is complete, uvicorn's `cycle` is a newer request: the bytes read are a body's.
        self._head_after: RequestResponseCycle | None = None
        self._head_bytes = 0  # read so far of that head
        self._head_tail = b""  # the last bytes read of it: its end may straddle two reads
        self._timer: TimerHandle | None = None
        self._waiting_after: object = _NOT_WAITING  # what the head timer saw the last time
        self._ticks = 0  # how many times in a row it saw the client owe the same head
        self._body_ticks = 0  # how many times it saw the client owe the current request's body
        interval = min(self.head_timeout_s, self.body_timeout_s) / _TICKS
        self._interval = interval
        self._head_ticks = math.ceil(self.head_timeout_s / interval - 1e-9)  # a whole timeout's worth
        self._body_ticks_allowed = math.ceil(self.body_timeout_s / interval - 1e-9)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._schedule_tick()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.cycle is self._head_after:  # a head is being read
            if self._head_bytes + len(data) > self.max_head_bytes and not self._head_ends_in_time(data):
                self._refuse_head()
                return
            self._head_bytes += len(data)
            self._head_tail = data[-3:]
        super().data_received(data)

    def on_headers_complete(self) -> None:  # a parser callback: a body may follow
        self._body_ticks = 0
        super().on_headers_complete()

    def on_message_complete(self) -> None:  # a parser callback: the next bytes are the next head
        self._head_after, self._head_bytes, self._head_tail = self.cycle, 0, b""
        super().on_message_complete()

    def _head_ends_in_time(self, data: bytes) -> bool:
        """Whether the head in progress ends within `data` before it passes the limit (a body may
        follow it in the same read)."""
        found = (self._head_tail + data).find(_END_OF_HEAD)
        return found >= 0 and self._head_bytes + found + len(_END_OF_HEAD) - len(self._head_tail) <= (
            self.max_head_bytes)

    def _refuse_head(self) -> None:
        self._answer_and_close(431, error_json(
            f"The request's headers exceed the limit of {self.max_head_bytes} bytes.",
            type="invalid_request_error", code="request_header_fields_too_large",
        ))

    def send_400_response(self, msg: str) -> None:  # what httptools cannot parse: uvicorn's is plain text
        self._answer_and_close(400, error_json(
            "The request is not valid HTTP/1.1.", type="invalid_request_error", code="invalid_http_request"))

    def _answer_and_close(self, status: int, body: bytes) -> None:
        """Answers outside the application (which never saw this request, or still waits for its
        body) and closes the connection."""
        headers = list(self.server_state.default_headers)
        if self.scheme == "https":
            headers.append(HSTS)
        self.transport.write(b"".join([
            STATUS_LINE[status],
            *(name + b": " + value + b"\r\n" for name, value in headers),
            b"content-type: application/json\r\n",
            b"content-length: ", str(len(body)).encode(), b"\r\n",
            b"connection: close\r\n\r\n",
            body,
        ]))
        self.transport.close()

    # The timeouts: no timer per request, one per connection that looks every half of the shorter
    # timeout. A client owes a head from the connection's start (no request yet) or its last
    # response's end; seen owing the same one a whole timeout's worth of looks and once more, it had
    # the whole timeout and more (at most half as much again): the connection is closed. A client owes
    # a body from its head's end until the body's end, except while the server stopped reading.
    def _schedule_tick(self) -> None:
        self._timer = self.loop.call_later(self._interval, self._tick)

    def _tick(self) -> None:
        self._timer = None
        if self.transport.is_closing() or self.transport.get_protocol() is not self:  # closed, upgraded
            return
        cycle = self.cycle
        if cycle is None or cycle.response_complete:  # the client owes the next head
            if cycle is self._waiting_after:
                self._ticks += 1
                if self._ticks > self._head_ticks:
                    self.transport.close()
                    return
            else:
                self._waiting_after, self._ticks = cycle, 1
        else:
            self._waiting_after = _NOT_WAITING
            if cycle.more_body and not self.flow.read_paused:  # the client owes the rest of a body
                self._body_ticks += 1
                if self._body_ticks > self._body_ticks_allowed:
                    self._refuse_slow_body(cycle)
                    return
        self._schedule_tick()

    def _refuse_slow_body(self, cycle: RequestResponseCycle) -> None:
        if cycle.response_started:  # only the connection can tell the client
            self.transport.close()
            return
        self._answer_and_close(408, error_json(
            f"The request's body did not arrive within {self.body_timeout_s:g} seconds.",
            type="invalid_request_error", code="request_timeout",
        ))


def bounded_http(
    *, max_head_bytes: int, head_timeout_s: float,
    body_timeout_s: float = BoundedHttpToolsProtocol.body_timeout_s,
) -> type[BoundedHttpToolsProtocol]:
    """The protocol class for uvicorn's `http` option, with these bounds (uvicorn builds one
    protocol per connection from the class alone)."""
    return type("BoundedHttpToolsProtocol", (BoundedHttpToolsProtocol,), {
        "max_head_bytes": max_head_bytes, "head_timeout_s": head_timeout_s, "body_timeout_s": body_timeout_s})
