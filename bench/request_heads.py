"""What bounding request heads costs: uvicorn's httptools protocol against the gateway's bounded one.

    .venv/bin/python -m bench.request_heads            a table and the ratio
    .venv/bin/python -m bench.request_heads --json     the same numbers as JSON on stdout

In one process, no sockets: each protocol is fed keep-alive requests on one fake connection, as the
event loop would feed them, and answers each through a trivial ASGI app; rounds alternate between
the two, and each round's CPU time per request is reported. What differs between the two is all the
bounded protocol adds (a count per read, a timer per request), without the network and the gateway
that make end-to-end runs on a shared machine too noisy to see it (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from typing import Any

import uvicorn
import uvloop
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from bench.common import machine
from llmaas.api.connections import bounded_http

# A chat request's head as the openai SDK sends it, with a small body.
BODY = b'{"model":"m","messages":[{"role":"user","content":"hi"}]}'
REQUEST = (
    b"POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1:8000\r\naccept-encoding: gzip, deflate\r\n"
    b"connection: keep-alive\r\naccept: application/json\r\ncontent-type: application/json\r\n"
    b"user-agent: OpenAI/Python 1.0\r\nx-stainless-lang: python\r\nauthorization: Bearer sk-llmaas-"
    + b"x" * 40 + b"\r\ncontent-length: " + str(len(BODY)).encode() + b"\r\n\r\n" + BODY
)


async def app(scope: Any, receive: Any, send: Any) -> None:
    await receive()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"ok"})


class FakeTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.closing = False

    def write(self, data: Any) -> None:
        pass

    def close(self) -> None:
        self.closing = True

    def is_closing(self) -> bool:
        return self.closing

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8000)}.get(name, default)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def one_round(protocol_class: type[HttpToolsProtocol], requests: int) -> float:
    """CPU seconds per request for `requests` keep-alive requests on one connection."""
    config = uvicorn.Config(app, http=protocol_class, lifespan="off", log_level="warning", access_log=False)
    config.load()
    state = ServerState()
    protocol = protocol_class(config=config, server_state=state, app_state={})
    protocol.connection_made(FakeTransport())
    started = time.process_time()
    for _ in range(requests):
        protocol.data_received(REQUEST)
        while state.tasks:  # the app's task: run it to the end of its response
            await asyncio.sleep(0)
    elapsed = time.process_time() - started
    protocol.connection_lost(None)
    return elapsed / requests


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.request_heads",
        description="CPU per request of uvicorn's httptools protocol against the bounded one.")
    parser.add_argument("--json", action="store_true", help="Print the raw numbers as JSON on stdout.")
    parser.add_argument("--rounds", type=int, default=10, help="Alternating rounds per protocol.")
    parser.add_argument("--requests", type=int, default=20_000, help="Requests per round.")
    args = parser.parse_args(argv)
    protocols: dict[str, type[HttpToolsProtocol]] = {
        "httptools": HttpToolsProtocol,
        "bounded": bounded_http(max_head_bytes=32 * 1024, head_timeout_s=10.0),
    }
    rounds: dict[str, list[float]] = {name: [] for name in protocols}

    async def run() -> None:
        for protocol in protocols.values():  # warm up
            await one_round(protocol, args.requests // 10)
        for index in range(args.rounds):
            order = list(protocols.items()) if index % 2 == 0 else list(reversed(protocols.items()))
            for name, protocol in order:
                rounds[name].append(await one_round(protocol, args.requests))

    uvloop.run(run())
    medians = {name: statistics.median(values) * 1e6 for name, values in rounds.items()}
    result = {"benchmark": "request_heads", "machine": machine(), "requests_per_round": args.requests,
              "us_per_request_per_round": {name: [round(v * 1e6, 2) for v in values]
                                           for name, values in rounds.items()},
              "median_us_per_request": medians,
              "bounded_minus_httptools_us": medians["bounded"] - medians["httptools"]}
    out = sys.stdout if args.json else sys.stderr
    if args.json:
        json.dump(result, out, indent=2)
        out.write("\n")
    print(f"CPU µs per request (median of {args.rounds} rounds of {args.requests}): "
          f"httptools {medians['httptools']:.2f}, bounded {medians['bounded']:.2f}, "
          f"difference {result['bounded_minus_httptools_us']:+.2f} µs", file=sys.stderr)


if __name__ == "__main__":
    main()
