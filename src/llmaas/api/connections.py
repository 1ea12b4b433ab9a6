"""HTTP/1.1 connections: uvicorn's httptools protocol with a bound on each request's head.

httptools reads a request line and headers of any size, for as long as the client takes: a 40 MB
header is buffered whole, and a client that dribbles its head a byte at a time (slowloris) holds its
connection forever. Here a head is at most `max_head_bytes` (431, then the connection is closed) and
must be complete within `head_timeout_s` of the connection's start or of the previous response's end
(the connection is closed). Bodies are bounded by `RequestContext`, after the head.

The cost on an ordinary request is one addition and one comparison per read, and one timer per
request, as uvicorn's own keep-alive timer.

    config = uvicorn.Config(app, http=bounded_http(max_head_bytes=32768, head_timeout_s=10.0))
"""

from __future__ import annotations

import asyncio
from asyncio import TimerHandle
from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from llmaas.wire.errors import error_json

_END_OF_HEAD = b"\r\n\r\n"


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with its request heads bounded in size and time."""

    max_head_bytes = 32 * 1024
    head_timeout_s = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_bytes: int | None = 0  # read so far of the head in progress; None while none is
        self._head_tail = b""  # the last bytes read of it: its end may straddle two reads
        self._head_timer: TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._head_bytes is not None:
            if self._head_bytes + len(data) > self.max_head_bytes and not self._head_ends_in_time(data):
                self._refuse_head()
                return
            self._head_bytes += len(data)
            self._head_tail = data[-3:]
        super().data_received(data)

    def _head_ends_in_time(self, data: bytes) -> bool:
        """Whether the head in progress ends within `data` before it passes the limit (a body may
        follow it in the same read)."""
        assert self._head_bytes is not None
        found = (self._head_tail + data).find(_END_OF_HEAD)
        return found >= 0 and self._head_bytes + found + len(_END_OF_HEAD) - len(self._head_tail) <= (
            self.max_head_bytes)

    def _refuse_head(self) -> None:
        self._head_bytes = None
        self._disarm_head_timer()
        body = error_json(
            f"The request's headers exceed the limit of {self.max_head_bytes} bytes.",
            type="invalid_request_error", code="request_header_fields_too_large",
        )
        self.transport.write(b"".join([
            STATUS_LINE[431],
            *(name + b": " + value + b"\r\n" for name, value in self.server_state.default_headers),
            b"content-type: application/json\r\n",
            b"content-length: ", str(len(body)).encode(), b"\r\n",
            b"connection: close\r\n\r\n",
            body,
        ]))
        self.transport.close()

    # Parser callbacks: the head is done; after a request's body, the next head begins.
    def on_headers_complete(self) -> None:
        self._head_bytes = None
        self._disarm_head_timer()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._head_bytes, self._head_tail = 0, b""
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # The client's time for its next head runs from here, unless that head already came
        # (a pipelined request, now started).
        if self.cycle.response_complete and not self.transport.is_closing():
            self._arm_head_timer()

    def _arm_head_timer(self) -> None:
        self._disarm_head_timer()
        self._head_timer = self.loop.call_later(self.head_timeout_s, self._head_timed_out)

    def _disarm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing():
            self.transport.close()


def bounded_http(*, max_head_bytes: int, head_timeout_s: float) -> type[BoundedHttpToolsProtocol]:
    """The protocol class for uvicorn's `http` option, with these bounds (uvicorn builds one
    protocol per connection from the class alone)."""
    return type("BoundedHttpToolsProtocol", (BoundedHttpToolsProtocol,),
                {"max_head_bytes": max_head_bytes, "head_timeout_s": head_timeout_s})
