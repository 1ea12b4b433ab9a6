"""Tokens per second of the embedded chat engine, directly and through the gateway.

    .venv/bin/python -m bench.engine_throughput                 4 slots, as the bundled catalog
    .venv/bin/python -m bench.engine_throughput --parallel 4,8  also a catalog with 8 slots
    .venv/bin/python -m bench.engine_throughput --json          the numbers as JSON on stdout

For each slot count it starts `llmaas serve --catalog FILE` (one model: qwen2.5-coder-0.5b-instruct,
llama.cpp's llama-server) in a temporary LLMAAS_HOME on free ports, issues a key with `llmaas keys
create`, and finds the engine's own port from its command line (/proc/<pid>/cmdline of the serve
process's child). Then, with max_tokens 128, temperature 0 and `ignore_eos` so every answer has the
same length:

- one streamed request at a time, alternating direct-to-engine and through-the-gateway runs;
- 1, 4 and 8 concurrent streams through the gateway, total tokens over wall time.

Besides tokens/s it reports the CPU the gateway process spent per request (from the scheduler's
counters), a share of the engine's CPU that a neighbour's load does not distort. Nothing is pinned:
llama-server runs engine_threads (2) threads, and the gateway and the load generator take their CPU
from it, which is the cost being measured. The platform runs with its production settings (health
checks every 2 s); the load generator opens a new connection per request (see `measure`). A failed
request is logged, retried after the next health check and counted, never averaged in.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson
import uvloop
from rich.console import Console

from bench.common import cpu_seconds, machine
from bench.harness import machine_text, print_json, report_console, table, verdict
from bench.served import MODEL, Served, serve

TARGET_GATEWAY_RATIO = 0.95  # gateway / direct tokens/s, one stream
TARGET_SCALING = 2.0  # aggregate tokens/s at 8 streams / at 1
PROMPT = ("Write a Python function that returns the n-th Fibonacci number iteratively, "
          "with a docstring, type hints and three doctest examples.")


# -- one streamed request -------------------------------------------------------------------------


@dataclass
class Stream:
    started: float
    first_token: float = 0.0
    last_token: float = 0.0
    ended: float = 0.0
    content_chunks: int = 0
    completion_tokens: int = 0
    engine_tps: float | None = None  # llama-server's own `timings.predicted_per_second`
    cpu_s: dict[str, float] = field(default_factory=dict)  # gateway / engine CPU over this request

    @property
    def decode_tps(self) -> float:
        """Tokens/s between the first and the last token (prompt processing excluded)."""
        span = self.last_token - self.first_token
        return (self.content_chunks - 1) / span if span > 0 else 0.0

    @property
    def end_to_end_tps(self) -> float:
        return self.completion_tokens / (self.ended - self.started)

    @property
    def ttft_ms(self) -> float:
        return (self.first_token - self.started) * 1000


def request_body(max_tokens: int) -> bytes:
    return orjson.dumps({
        "model": MODEL,
        "messages": [{"role": "user", "content": PROMPT}],
        "max_tokens": max_tokens,
        "temperature": 0,
        "ignore_eos": True,  # llama.cpp extension, forwarded by the gateway: equal lengths
        "stream": True,
        "stream_options": {"include_usage": True},
    })


class StreamFailed(Exception):
    """A request that did not produce a complete stream (HTTP error or broken connection)."""


async def stream_once(session: aiohttp.ClientSession, url: str, key: str | None, body: bytes) -> Stream:
    try:
        return await _stream(session, url, key, body)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise StreamFailed(f"{type(exc).__name__}: {exc}") from exc


async def _stream(session: aiohttp.ClientSession, url: str, key: str | None, body: bytes) -> Stream:
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    result = Stream(started=time.perf_counter())
    async with session.post(f"{url}/chat/completions", data=body, headers=headers) as response:
        if response.status != 200:
            answer = (await response.read())[:200].decode(errors="replace")
            raise StreamFailed(f"HTTP {response.status}: {answer}")
        async for line in response.content:
            if not line.startswith(b"data:"):
                continue
            data = line[5:].strip()
            if data == b"[DONE]":
                break
            chunk = orjson.loads(data)
            if any((choice.get("delta") or {}).get("content") for choice in chunk.get("choices") or ()):
                now = time.perf_counter()
                result.first_token = result.first_token or now
                result.last_token = now
                result.content_chunks += 1
            if chunk.get("usage"):
                result.completion_tokens = chunk["usage"]["completion_tokens"]
            if isinstance(chunk.get("timings"), dict):
                result.engine_tps = chunk["timings"].get("predicted_per_second")
    result.ended = time.perf_counter()
    if not result.content_chunks:
        raise StreamFailed("the stream carried no tokens")
    return result


# -- measurements ---------------------------------------------------------------------------------


@dataclass
class SlotResults:
    parallel: int
    single: dict[str, list[Stream]] = field(default_factory=lambda: {"direct": [], "gateway": []})
    aggregate: dict[int, list[dict[str, float]]] = field(default_factory=dict)
    failures: dict[str, list[str]] = field(default_factory=lambda: {"direct": [], "gateway": []})


async def measure(served: Served, parallel: int, *, runs: int, aggregate_runs: int, levels: list[int],
                  max_tokens: int, console: Console) -> SlotResults:
    results = SlotResults(parallel)
    body = request_body(max_tokens)
    targets = {"direct": (served.engine, None), "gateway": (served.gateway, served.key)}
    timeout = aiohttp.ClientTimeout(total=300)
    pids = {"gateway": served.process.pid, "engine": served.engine_pid}
    # A new connection per request: llama-server closes a connection after a streamed answer
    # while announcing keep-alive, and a client that reuses it fails (docs/benchmarks.md).
    connector = aiohttp.TCPConnector(limit=0, force_close=True)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def attempt(target: str) -> Stream:
            url, key = targets[target]
            for _ in range(3):
                try:
                    return await stream_once(session, url, key, body)
                except StreamFailed as exc:
                    results.failures[target].append(str(exc))
                    console.log(f"[red]{target} request failed:[/red] {exc}")
                    await asyncio.sleep(2.5)  # past the gateway's next health check
            raise RuntimeError(f"three {target} requests in a row failed")

        for target in targets:  # warm-up: first request loads the prompt cache
            await attempt(target)
        for run in range(runs):
            order = ("direct", "gateway") if run % 2 == 0 else ("gateway", "direct")
            for target in order:
                before = {name: cpu_seconds(pid) for name, pid in pids.items()}
                stream = await attempt(target)
                stream.cpu_s = {name: cpu_seconds(pid) - before[name] for name, pid in pids.items()}
                results.single[target].append(stream)
                console.log(f"slots {parallel} single {target:7} run {run + 1}/{runs}: "
                            f"{stream.decode_tps:6.1f} tok/s decode, {stream.completion_tokens} tokens, "
                            f"ttft {stream.ttft_ms:.0f} ms")
        for level in levels:
            results.aggregate[level] = []
            for _ in range(aggregate_runs):
                started = time.perf_counter()
                outcomes = await asyncio.gather(
                    *(stream_once(session, served.gateway, served.key, body) for _ in range(level)),
                    return_exceptions=True,
                )
                wall = time.perf_counter() - started
                streams = [o for o in outcomes if isinstance(o, Stream)]
                failed = [o for o in outcomes if not isinstance(o, Stream)]
                for failure in failed:
                    if not isinstance(failure, StreamFailed):
                        raise failure
                    results.failures["gateway"].append(str(failure))
                if not streams:
                    raise RuntimeError(f"all {level} concurrent streams failed: {failed[0]}")
                tokens = sum(s.completion_tokens for s in streams)
                sample = {
                    "streams": level,
                    "failed": len(failed),
                    "tokens": tokens,
                    "wall_s": wall,
                    "aggregate_tps": tokens / wall,
                    "per_stream_decode_tps": statistics.mean(s.decode_tps for s in streams),
                    "ttft_max_ms": max(s.ttft_ms for s in streams),
                }
                results.aggregate[level].append(sample)
                console.log(f"slots {parallel} {level} streams: {sample['aggregate_tps']:6.1f} tok/s "
                            f"aggregate ({tokens} tokens in {wall:.1f}s), "
                            f"max ttft {sample['ttft_max_ms']:.0f} ms"
                            + (f", [red]{len(failed)} failed[/red]" if failed else ""))
    return results


def summarize(results: SlotResults, levels: list[int]) -> dict[str, Any]:
    single: dict[str, Any] = {}
    for target, streams in results.single.items():
        single[target] = {
            "runs": len(streams),
            "decode_tps_median": statistics.median(s.decode_tps for s in streams),
            "decode_tps_per_run": [round(s.decode_tps, 2) for s in streams],
            "end_to_end_tps_median": statistics.median(s.end_to_end_tps for s in streams),
            "ttft_ms_median": statistics.median(s.ttft_ms for s in streams),
            "completion_tokens": sorted({s.completion_tokens for s in streams}),
            "engine_reported_tps_median": statistics.median(
                [s.engine_tps for s in streams if s.engine_tps] or [0.0]
            ),
            "gateway_cpu_ms_per_request": statistics.mean(s.cpu_s["gateway"] for s in streams) * 1000,
            "engine_cpu_s_per_request": statistics.mean(s.cpu_s["engine"] for s in streams),
        }
    pairs = list(zip(results.single["direct"], results.single["gateway"], strict=True))
    medians = {level: statistics.median(s["aggregate_tps"] for s in samples)
               for level, samples in results.aggregate.items()}
    aggregate = {
        str(level): {"runs": samples, "aggregate_tps_median": medians[level]}
        for level, samples in results.aggregate.items()
    }
    summary: dict[str, Any] = {
        "parallel": results.parallel,
        "single": single,
        "gateway_over_direct_decode": single["gateway"]["decode_tps_median"]
        / single["direct"]["decode_tps_median"],
        "gateway_over_direct_decode_per_pair": [round(g.decode_tps / d.decode_tps, 3) for d, g in pairs],
        "gateway_over_direct_end_to_end": single["gateway"]["end_to_end_tps_median"]
        / single["direct"]["end_to_end_tps_median"],
        "aggregate": aggregate,
        "failures": {target: len(messages) for target, messages in results.failures.items()},
        "failure_kinds": {target: sorted(set(messages))[:3] for target, messages in results.failures.items()},
        # CPU the gateway process spent relaying one stream, as a share of the engine's CPU for it:
        # a noise-proof bound on what the gateway can take from generation on a shared CPU.
        "gateway_cpu_share": single["gateway"]["gateway_cpu_ms_per_request"] / 1000
        / single["gateway"]["engine_cpu_s_per_request"],
    }
    low, high = min(levels), max(levels)
    summary["scaling"] = {"streams": [low, high], "ratio": medians[high] / medians[low]}
    return summary


# -- report ---------------------------------------------------------------------------------------


def print_report(console: Console, summaries: list[dict[str, Any]], facts: dict[str, Any]) -> None:
    for s in summaries:
        single = table(f"One stream, {s['parallel']} slots: direct vs gateway "
                       f"(median of {s['single']['direct']['runs']} alternating runs)",
                       ("target", "decode tok/s", "end-to-end tok/s", "TTFT ms", "engine-reported tok/s",
                        "tokens", "decode tok/s per run", "gateway CPU ms/req", "engine CPU s/req"),
                       left=("target",))
        for target in ("direct", "gateway"):
            r = s["single"][target]
            single.add_row(target, f"{r['decode_tps_median']:.1f}", f"{r['end_to_end_tps_median']:.1f}",
                           f"{r['ttft_ms_median']:.0f}", f"{r['engine_reported_tps_median']:.1f}",
                           ",".join(map(str, r["completion_tokens"])),
                           " ".join(f"{x:.1f}" for x in r["decode_tps_per_run"]),
                           f"{r['gateway_cpu_ms_per_request']:.1f}", f"{r['engine_cpu_s_per_request']:.2f}")
        console.print(single)
        aggregate = table(f"Concurrent streams through the gateway, {s['parallel']} slots",
                          ("streams", "aggregate tok/s (median)", "per run", "mean per-stream decode tok/s",
                           "max TTFT ms"))
        for level, a in s["aggregate"].items():
            aggregate.add_row(level, f"{a['aggregate_tps_median']:.1f}",
                              " ".join(f"{r['aggregate_tps']:.1f}" for r in a["runs"]),
                              f"{statistics.mean(r['per_stream_decode_tps'] for r in a['runs']):.1f}",
                              f"{max(r['ttft_max_ms'] for r in a['runs']):.0f}")
        console.print(aggregate)
        ratio = s["gateway_over_direct_decode"]
        low, high = s["scaling"]["streams"]
        console.print(
            f"[bold]{s['parallel']} slots[/bold]: gateway/direct decode tok/s = {ratio:.3f} "
            f"(per pair {s['gateway_over_direct_decode_per_pair']}; end to end "
            f"{s['gateway_over_direct_end_to_end']:.3f}; gateway CPU = "
            f"{100 * s['gateway_cpu_share']:.2f}% of the engine's) "
            f"{verdict(ratio >= TARGET_GATEWAY_RATIO, f'≥ {TARGET_GATEWAY_RATIO}')}; "
            f"aggregate({high})/aggregate({low}) = {s['scaling']['ratio']:.2f} "
            f"{verdict(s['scaling']['ratio'] >= TARGET_SCALING, f'≥ {TARGET_SCALING:g}')}"
        )
        for target, count in s["failures"].items():
            if count:
                console.print(f"[red]{count} failed {target} requests[/red] (retried; not in the numbers): "
                              f"{s['failure_kinds'][target]}")
    console.print(f"Targets: gateway/direct ≥ {TARGET_GATEWAY_RATIO}; aggregate(8)/aggregate(1) ≥ "
                  f"{TARGET_SCALING:g}. {machine_text(facts)}; {facts['machine']['date']}.")


# -- main -----------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.engine_throughput",
        description="Tokens/s of the embedded llama.cpp engine, direct vs through the gateway.",
    )
    parser.add_argument("--json", action="store_true", help="Print the raw numbers as JSON on stdout.")
    parser.add_argument("--parallel", default="4", help="Comma-separated llama.cpp slot counts to try.")
    parser.add_argument("--runs", type=int, default=4, help="Single-stream runs per side.")
    parser.add_argument("--aggregate-runs", type=int, default=1, help="Runs per concurrency level.")
    parser.add_argument("--streams", default="1,4,8", help="Concurrent stream counts, through the gateway.")
    parser.add_argument("--max-tokens", type=int, default=128, help="Tokens per answer.")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    console = report_console(args.json)
    levels = [int(n) for n in args.streams.split(",")]
    facts: dict[str, Any] = {"machine": machine(), "model": MODEL, "max_tokens": args.max_tokens}
    summaries = []
    for parallel in (int(p) for p in args.parallel.split(",")):
        with serve(parallel, console) as served:
            results = uvloop.run(measure(served, parallel, runs=args.runs, aggregate_runs=args.aggregate_runs,
                                         levels=levels, max_tokens=args.max_tokens, console=console))
        summaries.append(summarize(results, levels))
    print_report(console, summaries, facts)
    if args.json:
        print_json("engine_throughput", facts, summaries)


if __name__ == "__main__":
    main()
