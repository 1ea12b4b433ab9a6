"""Stream relay cost per event: gateway CPU per server-sent event relayed, side by side.

    PYTHONPATH=src:. .venv/bin/python -m bench.stream_events
    PYTHONPATH=src:. .venv/bin/python -m bench.stream_events --base /tmp/base/src    base vs now
    PYTHONPATH=src:. .venv/bin/python -m bench.stream_events --burst     the events all at once
    PYTHONPATH=src:. .venv/bin/python -m bench.stream_events --bare      and the libraries' floor

One gateway per side (settled, in-process limits and budget, the ledger on) in front of the fake
engine, which streams one write per event, 1 ms apart (each event reaches the gateway alone, as a
token does: no batching of reads or writes). Each round sends, to each side in turn (the order flips
every round), `--requests` streams of `--long` content events and as many of 1 event, one at a time,
reading each to its end. The gateway's CPU (all threads, from the scheduler) per long stream minus
per short one, divided by the events between them, is the relay's cost per event: what a request
costs whatever its length cancels out. `--base DIR` runs a second gateway on another tree's `src`
(`git archive REV src | tar -x -C DIR/..`): the change's before and after in one run. `--bare` adds
a side that is no gateway at all (bench/bare_relay.py): uvicorn and aiohttp relaying each read as one
write, what any Python relay on these libraries pays per event.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import statistics
from multiprocessing.process import BaseProcess

import aiohttp

from bench import bare_relay, fake_upstream, gateway_server
from bench.common import cpu_seconds, importing_from, stop
from bench.gateway_server import Metering

MODEL = fake_upstream.MODEL


async def streams(url: str, key: str, *, events: int, requests: int, burst: bool) -> int:
    """Send `requests` streams of `events` content events one by one; the bytes received."""
    body = {"model": MODEL, "stream": True, "seed": -events if burst else events, "max_tokens": events,
            "messages": [{"role": "user", "content": "Hi"}]}
    received = 0
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {key}"}) as session:
        for _ in range(requests):
            async with session.post(f"{url}/v1/chat/completions", json=body) as response:
                if response.status != 200:
                    raise RuntimeError(f"HTTP {response.status}: {await response.text()}")
                async for chunk in response.content.iter_any():
                    received += len(chunk)
    return received


def cpu_per_stream(started: gateway_server.Started, *, events: int, requests: int, burst: bool) -> float:
    pid = started.process.pid or 0
    before = cpu_seconds(pid)
    asyncio.run(streams(started.url, started.key, events=events, requests=requests, burst=burst))
    return (cpu_seconds(pid) - before) / requests


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.stream_events", description=__doc__.split("\n")[0])
    parser.add_argument("--base", help="Another tree's src directory: a second gateway runs on it.")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=10, help="Streams per side, length and round.")
    parser.add_argument("--long", type=int, default=200, help="Content events in a long stream.")
    parser.add_argument("--burst", action="store_true",
                        help="The engine writes all events at once (the relay reads and writes several "
                             "at a time) instead of 1 ms apart.")
    parser.add_argument("--bare", action="store_true",
                        help="Also a bare relay on the same libraries, without the gateway (the floor).")
    args = parser.parse_args(argv)
    ctx = multiprocessing.get_context("spawn")
    processes: list[BaseProcess] = []
    try:
        upstream_url, _ = fake_upstream.start(ctx, processes, None)
        sides = {}
        for side, src in (("now", None), ("base", args.base)):
            if side == "base" and src is None:
                continue
            with importing_from(src):
                sides[side] = gateway_server.start(
                    ctx, processes, name=side, model_id=MODEL, upstream_url=f"{upstream_url}/v1",
                    cpu=None, metering=Metering(limits=True))
        if args.bare:
            sides["bare"] = bare_relay.start(ctx, processes, upstream_url=f"{upstream_url}/v1")
        for started in sides.values():  # warm up: connections, first-request work
            cpu_per_stream(started, events=args.long, requests=3, burst=args.burst)
        per_event: dict[str, list[float]] = {side: [] for side in sides}
        order = list(sides)
        print(f"load before: {os.getloadavg()[0]:.2f}", flush=True)
        for round_ in range(args.rounds):
            for side in order:
                long = cpu_per_stream(sides[side], events=args.long, requests=args.requests, burst=args.burst)
                short = cpu_per_stream(sides[side], events=1, requests=args.requests, burst=args.burst)
                per_event[side].append((long - short) / (args.long - 1) * 1e6)
                print(f"round {round_ + 1} {side}: {long * 1e3:.2f} ms per {args.long}-event stream, "
                      f"{short * 1e3:.2f} ms per 1-event stream: {per_event[side][-1]:.1f} µs per event "
                      f"(load {os.getloadavg()[0]:.2f})", flush=True)
            order.reverse()
        for side, values in per_event.items():
            print(f"{side}: gateway CPU per relayed event, median of {len(values)} rounds: "
                  f"{statistics.median(values):.1f} µs (rounds: {' '.join(f'{v:.1f}' for v in values)})")
        if "base" in per_event:
            ratios = [n / b for n, b in zip(per_event["now"], per_event["base"], strict=True) if b]
            print(f"now / base per round: {' '.join(f'{r:.2f}' for r in ratios)}; "
                  f"median {statistics.median(ratios):.2f}")
        if "bare" in per_event:
            above = [n - b for n, b in zip(per_event["now"], per_event["bare"], strict=True)]
            print(f"now - bare per round (what the gateway adds to the libraries' floor), µs: "
                  f"{' '.join(f'{a:.1f}' for a in above)}; median {statistics.median(above):.1f}")
        print(f"load after: {os.getloadavg()[0]:.2f}")
    finally:
        stop(processes)


if __name__ == "__main__":
    main()
