"""Request heads bounded in size and time, bodies in time: an oversized head is a 431, a slowloris
client (head or body) is cut off, and the server keeps serving everyone else meanwhile."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from llmaas.api.connections import bounded_http
from llmaas.server import http_protocol
from llmaas.settings import Settings
from tests.servers import serve

LIMIT = 16 * 1024


async def hello(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"hello"})


def address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    return parts.hostname, parts.port


def send_head(url: str, head: bytes) -> bytes:
    """Sends `head` on a fresh connection; what came back before the server closed it (b"" when it
    closed while the head was still being sent)."""
    with socket.create_connection(address(url), timeout=30) as conn:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            conn.sendall(head)
        received = b""
        with contextlib.suppress(ConnectionResetError):
            while chunk := conn.recv(65536):
                received += chunk
        return received


def test_a_head_over_the_limit_is_a_431_and_the_server_keeps_serving() -> None:
    with serve(hello, http=bounded_http(max_head_bytes=LIMIT, head_timeout_s=30)) as url:
        answer = send_head(url, b"GET / HTTP/1.1\r\nhost: x\r\nx-big: " + b"a" * (2 * LIMIT) + b"\r\n\r\n")
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 431 ")
        assert b"connection: close" in head
        assert json.loads(body)["error"] == {
            "message": f"The request's headers exceed the limit of {LIMIT} bytes.",
            "type": "invalid_request_error", "param": None, "code": "request_header_fields_too_large"}
        assert httpx.get(url).text == "hello"


@pytest.mark.parametrize("head", [
    b"GET / HTTP/1.1\r\nhost: x\r\nx-bad: a\x01b\r\n\r\n",  # a control character in a header
    b"GET / HTTP/1.1\r\nhost: x\r\nbad header: 1\r\n\r\n",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",  # a TLS hello to the plain port
])
def test_what_is_not_http_is_a_json_400_and_the_server_keeps_serving(head: bytes) -> None:
    with serve(hello, http=bounded_http(max_head_bytes=LIMIT, head_timeout_s=30)) as url:
        answer = send_head(url, head)
        status, _, body = answer.partition(b"\r\n\r\n")
        assert status.startswith(b"HTTP/1.1 400 ") and b"content-type: application/json" in status
        assert json.loads(body)["error"] == {
            "message": "The request is not valid HTTP/1.1.", "type": "invalid_request_error",
            "param": None, "code": "invalid_http_request"}
        assert httpx.get(url).text == "hello"


def test_a_one_megabyte_header_is_refused_or_cut_off() -> None:
    with serve(hello, http=bounded_http(max_head_bytes=LIMIT, head_timeout_s=30)) as url:
        answer = send_head(url, b"GET / HTTP/1.1\r\nhost: x\r\nx-big: " + b"a" * 2**20 + b"\r\n\r\n")
        assert answer == b"" or answer.startswith(b"HTTP/1.1 431 ")
        assert httpx.get(url).text == "hello"


def test_a_head_up_to_the_limit_and_a_body_in_the_same_read_are_served() -> None:
    with serve(hello, http=bounded_http(max_head_bytes=LIMIT, head_timeout_s=30)) as url:
        start = b"POST / HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-length: 100000\r\nx-pad: "
        head = start + b"a" * (LIMIT - len(start) - 4) + b"\r\n\r\n"
        assert len(head) == LIMIT
        answer = send_head(url, head + b"b" * 100_000)  # far over the limit in one read: a body
        assert answer.startswith(b"HTTP/1.1 200 ") and b"\r\nhello\r\n" in answer
        over = start + b"a" * (LIMIT - len(start) - 3) + b"\r\n\r\n"
        assert send_head(url, over + b"b" * 100_000).startswith(b"HTTP/1.1 431 ")


def test_keep_alive_requests_each_get_their_own_head_budget() -> None:
    with serve(hello, http=bounded_http(max_head_bytes=LIMIT, head_timeout_s=30)) as url, \
            httpx.Client() as client:
        headers = {"x-pad": "a" * (LIMIT // 2)}
        assert [client.get(url, headers=headers).text for _ in range(5)] == ["hello"] * 5


async def _slowloris(url: str, connections: int) -> list[bool]:
    """`connections` clients, each sending a partial head a byte at a time; whether the server closed
    each (while the test's requests below are answered)."""

    async def dribble() -> bool:
        reader, writer = await asyncio.open_connection(*address(url))
        writer.write(b"GET / HTTP/1.1\r\nhost: x\r\n")
        try:
            for _ in range(600):  # a minute at most: far beyond the server's timeout
                writer.write(b"x")
                await writer.drain()
                with contextlib.suppress(TimeoutError):
                    if await asyncio.wait_for(reader.read(1), 0.1) == b"":
                        return True
            return False
        except ConnectionError:
            return True
        finally:
            writer.close()

    slow = [asyncio.create_task(dribble()) for _ in range(connections)]
    await asyncio.sleep(0.2)  # all of them connected and dribbling
    async with httpx.AsyncClient() as client:
        for _ in range(20):
            assert (await client.get(url, headers={"connection": "close"})).text == "hello"
    return await asyncio.gather(*slow)


def test_slowloris_connections_are_closed_and_others_are_served_meanwhile() -> None:
    with serve(hello, http=bounded_http(max_head_bytes=LIMIT, head_timeout_s=1.0)) as url:
        closed = asyncio.run(_slowloris(url, 200))
        assert all(closed), f"{closed.count(False)} slow connections were still open"
        assert httpx.get(url).text == "hello"


def test_an_idle_connection_is_closed_after_the_head_timeout() -> None:
    with serve(hello, http=bounded_http(max_head_bytes=LIMIT, head_timeout_s=0.5),
               timeout_keep_alive=60) as url, socket.create_connection(address(url), timeout=30) as conn:
        assert conn.recv(1) == b""  # closed by the server, long before the 30 s of this socket


async def _slow_bodies(url: str, connections: int) -> list[bytes]:
    """`connections` clients, each sending a whole head and then its body a byte at a time; what each
    received before the server closed its connection (None: never closed), while others are served."""

    async def dribble() -> bytes | None:
        reader, writer = await asyncio.open_connection(*address(url))
        writer.write(b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 100000\r\n\r\n")
        received = b""
        try:
            for _ in range(600):  # a minute at most: far beyond the server's timeout
                writer.write(b"x")
                await writer.drain()
                with contextlib.suppress(TimeoutError):
                    chunk = await asyncio.wait_for(reader.read(65536), 0.1)
                    if chunk == b"":
                        return received
                    received += chunk
            return None
        except ConnectionError:
            return received
        finally:
            writer.close()

    slow = [asyncio.create_task(dribble()) for _ in range(connections)]
    await asyncio.sleep(0.2)
    async with httpx.AsyncClient() as client:
        for _ in range(20):
            answer = await client.post(url, content=b"b" * 1000, headers={"connection": "close"})
            assert answer.text == "hello"
    return [answer if answer is not None else b"still open" for answer in await asyncio.gather(*slow)]


def test_slow_bodies_are_a_408_and_others_are_served_meanwhile() -> None:
    with serve(hello, http=bounded_http(max_head_bytes=LIMIT, head_timeout_s=30, body_timeout_s=1.0)) as url:
        answers = asyncio.run(_slow_bodies(url, 100))
        for answer in answers:
            head, _, body = answer.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 408 ") and b"connection: close" in head, answer[:200]
            assert json.loads(body)["error"] == {
                "message": "The request's body did not arrive within 1 seconds.",
                "type": "invalid_request_error", "param": None, "code": "request_timeout"}
        assert httpx.get(url).text == "hello"


def test_a_body_is_timed_from_its_own_head_on_a_kept_alive_connection() -> None:
    # Each request of a connection gets the whole body timeout: three bodies, each well within it,
    # together longer than it.
    async def three_requests(url: str) -> list[bytes]:
        reader, writer = await asyncio.open_connection(*address(url))
        answers = []
        for _ in range(3):
            writer.write(b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\nx")
            await asyncio.sleep(0.6)
            writer.write(b"x")
            answers.append(await reader.readuntil(b"\r\n0\r\n\r\n"))  # chunked
        writer.close()
        return answers

    with serve(hello, http=bounded_http(max_head_bytes=LIMIT, head_timeout_s=30, body_timeout_s=1.0)) as url:
        assert all(answer.startswith(b"HTTP/1.1 200 ") for answer in asyncio.run(three_requests(url)))


def test_a_response_under_way_while_the_body_dribbles_ends_with_the_connection() -> None:
    async def answers_at_once(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"started", "more_body": True})
        while (await receive()).get("more_body"):
            pass

    with serve(answers_at_once, http=bounded_http(max_head_bytes=LIMIT, head_timeout_s=30,
                                                  body_timeout_s=0.5)) as url:
        answer = asyncio.run(_slow_bodies_once(url))
        assert answer.startswith(b"HTTP/1.1 200 ") and b"408" not in answer
        assert not answer.endswith(b"still open")


async def _slow_bodies_once(url: str) -> bytes:
    reader, writer = await asyncio.open_connection(*address(url))
    writer.write(b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 100000\r\n\r\n")
    received = b""
    with contextlib.suppress(ConnectionError):
        for _ in range(300):
            writer.write(b"x")
            await writer.drain()
            with contextlib.suppress(TimeoutError):
                chunk = await asyncio.wait_for(reader.read(65536), 0.1)
                if chunk == b"":
                    break
                received += chunk
        else:
            received += b"still open"
    writer.close()
    return received


def test_serve_bounds_heads_and_bodies_as_the_settings_say(tmp_path: Path) -> None:
    protocol = http_protocol(Settings(home=tmp_path, max_request_head_bytes=20000, request_head_timeout_s=3,
                                      request_body_timeout_s=7))
    assert (protocol.max_head_bytes, protocol.head_timeout_s, protocol.body_timeout_s) == (20000, 3, 7)
    defaults = http_protocol(Settings(home=tmp_path))
    assert (defaults.max_head_bytes, defaults.head_timeout_s, defaults.body_timeout_s) == (
        32 * 1024, 10.0, 120.0)
