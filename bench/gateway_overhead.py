"""What the gateway adds: the same requests to a fast fake engine, directly and through the gateway.

    .venv/bin/python -m bench.gateway_overhead            tables and ratios
    .venv/bin/python -m bench.gateway_overhead --json     the same numbers as JSON on stdout
    .venv/bin/python -m bench.gateway_overhead --profile OUT.json   py-spy on the gateway instead

Three processes: the fake engine (raw ASGI, bench/fake_upstream.py), the gateway (built exactly as
production builds it, bench/gateway_server.py) and this one, the load generator (aiohttp, keep-alive
pool, N workers). With two or more CPUs the gateway gets a CPU of its own and the load generator and
the fake share another, so direct and gateway runs put the same work on the same CPU and the gateway
adds only its own; on a busy shared machine it leaves placement to the scheduler (see `placement`).
Besides latency it reports CPU time per request of each process (from /proc/<pid>/task/*/schedstat),
which a neighbour's load disturbs far less than wall-clock time. Direct and gateway phases alternate,
round after round, and the order flips every round, so drift on a noisy machine hits both alike.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import orjson
import uvloop
from rich.console import Console
from rich.table import Table

from bench import fake_upstream, gateway_server
from bench.common import cpus, machine, percentile, pin, stop
from bench.load import Phase, Scenario, run_phase
from bench.profiling import print_profile, profile_summary, recording

TARGET_ADDED_P50_MS = 1.0  # at concurrency 1
MODEL = fake_upstream.MODEL


@dataclass(frozen=True)
class Placement:
    client: int | None
    upstream: int | None
    gateway: int | None
    why: str

    def describe(self) -> str:
        if self.gateway is None:
            return f"not pinned ({self.why})"
        return (f"pinned: gateway on CPU {self.gateway}; fake engine on CPU {self.upstream}; "
                f"load generator on CPU {self.client} ({self.why})")


# -- processes ------------------------------------------------------------------------------------


@dataclass
class Stack:
    upstream_url: str
    gateway_url: str
    key: str
    gateway_pid: int
    upstream_pid: int

    @property
    def pids(self) -> dict[str, int]:
        return {"gateway": self.gateway_pid, "engine": self.upstream_pid, "client": os.getpid()}


def placement(mode: str) -> Placement:
    """Where each process runs. `auto` pins only on an otherwise idle machine.

    Pinned, each process keeps its CPU and its caches, and the gateway's CPU does nothing else. On a
    shared machine a neighbour that lands on a pinned CPU stalls the process pinned there (it cannot
    move to the other CPU), which distorts latencies far more than migrations do; `auto` then leaves
    placement to the scheduler.
    """
    available = cpus()
    load = os.getloadavg()[0]
    if len(available) < 2:
        return Placement(None, None, None, "one CPU")
    if mode == "no":
        return Placement(None, None, None, "--pin no")
    if mode == "auto" and load >= 1.0:
        return Placement(None, None, None, f"--pin auto: load average {load:.1f} from other processes")
    why = "--pin yes" if mode == "yes" else f"--pin auto: load average {load:.1f}"
    if len(available) == 2:
        return Placement(client=available[0], upstream=available[0], gateway=available[1], why=why)
    return Placement(client=available[0], upstream=available[2], gateway=available[1], why=why)


@contextmanager
def running_stack(where: Placement, access_log: str | None) -> Iterator[Stack]:
    ctx = multiprocessing.get_context("spawn")
    processes: list[BaseProcess] = []
    try:
        upstream_url, upstream = fake_upstream.start(ctx, processes, where.upstream)
        gateway = gateway_server.start(ctx, processes, name="gateway", model_id=MODEL,
                                       upstream_url=f"{upstream_url}/v1", cpu=where.gateway,
                                       access_log=access_log)
        assert gateway.process.pid is not None and upstream.pid is not None
        yield Stack(upstream_url, gateway.url, gateway.key, gateway.process.pid, upstream.pid)
    finally:
        stop(processes)


# -- measuring ------------------------------------------------------------------------------------


@dataclass
class Options:
    rounds: int
    scenarios: list[Scenario]
    serial_requests: int
    concurrent_requests: int
    max_phase_s: float


def add_load_arguments(
    parser: argparse.ArgumentParser, *, rounds: int, rounds_help: str, concurrency: str = "1,64",
    stream: str | None = "both", serial_requests: int = 1000, concurrent_requests: int,
    max_phase_s: float, pin: str = "auto",
    pin_help: str = "Pin the gateways to a CPU of their own (auto: only if the machine is idle).",
) -> None:
    """The options every load benchmark shares; `stream=None` measures non-streaming requests only."""
    parser.add_argument("--json", action="store_true", help="Print the raw numbers as JSON on stdout.")
    parser.add_argument("--rounds", type=int, default=rounds, help=rounds_help)
    parser.add_argument("--concurrency", default=concurrency, help="Comma-separated concurrency levels.")
    if stream is not None:
        parser.add_argument("--stream", choices=("both", "yes", "no"), default=stream,
                            help=f"Streaming requests, non-streaming ones, or both (default {stream}).")
    parser.add_argument("--serial-requests", type=int, default=serial_requests,
                        help="Measured requests per phase at concurrency 1.")
    parser.add_argument("--concurrent-requests", type=int, default=concurrent_requests,
                        help="Measured requests per phase above concurrency 1.")
    parser.add_argument("--max-phase-s", type=float, default=max_phase_s, help="Time limit of one phase.")
    parser.add_argument("--pin", choices=("auto", "yes", "no"), default=pin, help=pin_help)


def load_options(args: argparse.Namespace) -> Options:
    streams = {"both": (False, True), "yes": (True,), "no": (False,)}[getattr(args, "stream", "no")]
    return Options(
        rounds=args.rounds,
        scenarios=[Scenario(stream, int(c)) for c in args.concurrency.split(",") for stream in streams],
        serial_requests=args.serial_requests,
        concurrent_requests=args.concurrent_requests,
        max_phase_s=args.max_phase_s,
    )


def requests_for(options: Options, scenario: Scenario) -> tuple[int, int]:
    """(warm-up, measured) request counts of one phase."""
    measured = options.serial_requests if scenario.concurrency == 1 else options.concurrent_requests
    return max(20, 2 * scenario.concurrency), measured


async def measure(
    stack: Stack, options: Options, console: Console, targets: tuple[str, ...] = ("direct", "gateway")
) -> dict[Scenario, dict[str, list[Phase]]]:
    urls = {
        "direct": (f"{stack.upstream_url}/v1/chat/completions", {}),
        "gateway": (f"{stack.gateway_url}/v1/chat/completions",
                    {"Authorization": f"Bearer {stack.key}"}),
    }
    # Untimed: first requests pay for imports, pydantic schema caches, the key lookup.
    for scenario in options.scenarios:
        for target in targets:
            url, headers = urls[target]
            await run_phase(target, url, headers, scenario, warmup=0, requests=200, max_s=20)

    results: dict[Scenario, dict[str, list[Phase]]] = {s: {t: [] for t in targets} for s in options.scenarios}
    for round_index in range(options.rounds):
        order = targets if round_index % 2 == 0 else tuple(reversed(targets))
        for scenario in options.scenarios:
            warmup, measured = requests_for(options, scenario)
            for target in order:
                url, headers = urls[target]
                phase = await run_phase(target, url, headers, scenario, warmup=warmup,
                                        requests=measured, max_s=options.max_phase_s, pids=stack.pids)
                results[scenario][target].append(phase)
                console.log(f"round {round_index + 1}/{options.rounds} {scenario.label:18} {target:8}"
                            f" {phase.rps:8.0f} req/s  p50 {_ms(phase.latencies, 50):6.2f} ms"
                            + (f"  errors {sum(phase.errors.values())}" if phase.errors else ""))
    return results


def _us(value: float | None) -> str:
    return "" if value is None else f"{value:.0f}"


def _ms(values: list[float], q: float) -> float:
    return percentile(sorted(values), q) * 1000


def summarize(phases: list[Phase]) -> dict[str, Any]:
    latencies = sorted(x for p in phases for x in p.latencies)
    first_bytes = sorted(x for p in phases for x in p.first_bytes)
    elapsed = sum(p.elapsed_s for p in phases)
    errors: Counter[str] = Counter()
    cpu: Counter[str] = Counter()
    for p in phases:
        errors.update(p.errors)
        cpu.update(p.cpu_s)
    return {
        "requests": len(latencies),
        "errors": sum(errors.values()),
        "error_kinds": dict(errors.most_common(3)),
        "elapsed_s": round(elapsed, 3),
        "rps": len(latencies) / elapsed if elapsed else 0.0,
        "rps_per_round": [round(p.rps, 1) for p in phases],
        "p50_ms": percentile(latencies, 50) * 1000,
        "p90_ms": percentile(latencies, 90) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "max_ms": (latencies[-1] * 1000) if latencies else None,
        "first_byte_p50_ms": percentile(first_bytes, 50) * 1000 if first_bytes else None,
        "p50_ms_per_round": [round(_ms(p.latencies, 50), 3) for p in phases],
        "cpu_us_per_request": {
            name: seconds / len(latencies) * 1e6 if latencies else None for name, seconds in cpu.items()
        },
    }


def compare(results: dict[Scenario, dict[str, list[Phase]]]) -> list[dict[str, Any]]:
    rows = []
    for scenario, by_target in results.items():
        direct, gateway = summarize(by_target["direct"]), summarize(by_target["gateway"])
        ratios = [g.rps / d.rps for d, g in zip(by_target["direct"], by_target["gateway"], strict=True)
                  if d.rps]
        row: dict[str, Any] = {
            "stream": scenario.stream,
            "concurrency": scenario.concurrency,
            "direct": direct,
            "gateway": gateway,
            "added_p50_ms": gateway["p50_ms"] - direct["p50_ms"],
            "added_p99_ms": gateway["p99_ms"] - direct["p99_ms"],
            "rps_ratio": gateway["rps"] / direct["rps"] if direct["rps"] else None,
            "rps_ratio_per_round": [round(r, 3) for r in ratios],
            "gateway_cpu_us_per_request": gateway["cpu_us_per_request"].get("gateway"),
        }
        if scenario.concurrency == 1:
            row["target_added_p50_ms"] = TARGET_ADDED_P50_MS
            row["target_met"] = row["added_p50_ms"] <= TARGET_ADDED_P50_MS
        rows.append(row)
    return rows


# -- report ---------------------------------------------------------------------------------------


def print_report(console: Console, rows: list[dict[str, Any]], facts: dict[str, Any]) -> None:
    table = Table(title="Latency and throughput (ms; full answer)")
    for column in ("scenario", "target", "requests", "errors", "req/s", "p50", "p90", "p99",
                   "first byte p50", "CPU µs/req gateway+engine+client"):
        table.add_column(column, justify="left" if column in ("scenario", "target") else "right")
    for row in rows:
        label = f"{'stream' if row['stream'] else 'non-stream'} c={row['concurrency']}"
        for target in ("direct", "gateway"):
            s = row[target]
            first = s["first_byte_p50_ms"]
            cpu = s["cpu_us_per_request"]
            table.add_row(
                label, target, str(s["requests"]), str(s["errors"]), f"{s['rps']:.0f}",
                f"{s['p50_ms']:.2f}", f"{s['p90_ms']:.2f}", f"{s['p99_ms']:.2f}",
                "" if first is None else f"{first:.2f}",
                " + ".join(_us(cpu.get(name)) for name in ("gateway", "engine", "client")),
            )
        table.add_section()
    console.print(table)

    ratios = Table(title="Gateway vs direct (measured side by side)")
    for column in ("scenario", "added p50 ms", "added p99 ms", "req/s gateway/direct",
                   "per round", "gateway CPU µs/req", "target"):
        ratios.add_column(column, justify="left" if column in ("scenario", "target") else "right")
    for row in rows:
        label = f"{'stream' if row['stream'] else 'non-stream'} c={row['concurrency']}"
        verdict = ""
        if "target_met" in row:
            verdict = (f"[green]met[/green] (≤ {TARGET_ADDED_P50_MS:g} ms p50)" if row["target_met"]
                       else f"[red]missed[/red] (≤ {TARGET_ADDED_P50_MS:g} ms p50)")
        ratios.add_row(
            label, f"{row['added_p50_ms']:+.2f}", f"{row['added_p99_ms']:+.2f}",
            f"{row['rps_ratio']:.2f}", " ".join(f"{r:.2f}" for r in row["rps_ratio_per_round"]),
            _us(row["gateway_cpu_us_per_request"]), verdict,
        )
    console.print(ratios)
    console.print(f"Target: ≤ {TARGET_ADDED_P50_MS:g} ms p50 added latency at concurrency 1.")
    m = facts["machine"]
    console.print(f"Machine: {m['nproc']} CPUs, {m['cpu_model']}, load {m['loadavg_1m']:.2f} at start; "
                  f"{facts['placement']}. {m['date']}.")
    for row in rows:
        for target in ("direct", "gateway"):
            if row[target]["errors"]:
                console.print(f"[red]{target} errors:[/red] {row[target]['error_kinds']}")


# -- profiling ------------------------------------------------------------------------------------


async def profile(stack: Stack, options: Options, console: Console, output: Path, rate: int) -> None:
    """py-spy on the gateway under gateway-only load; the summary goes to `output` as JSON."""
    raw = output.with_suffix(".raw.txt")
    with recording(stack.gateway_pid, raw, rate=rate):
        await asyncio.sleep(1.0)  # let py-spy attach
        await measure(stack, options, console, targets=("gateway",))
    summary = profile_summary(raw.read_text(), top=20)
    output.write_text(orjson.dumps(summary, option=orjson.OPT_INDENT_2).decode())
    print_profile(console, summary, title="Gateway process")
    console.print(f"Raw stacks: {raw}; summary: {output}")


# -- main -----------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.gateway_overhead",
        description="Latency and throughput of the gateway vs. direct to a fast fake engine.",
    )
    add_load_arguments(parser, rounds=3, rounds_help="Alternating direct/gateway rounds.",
                       concurrent_requests=5000, max_phase_s=15.0,
                       pin_help="Pin the gateway to a CPU of its own (auto: only if the machine is idle).")
    parser.add_argument("--access-log", action="store_true",
                        help="Log at INFO as `llmaas serve` does (one JSON line per request, to a file).")
    parser.add_argument("--profile", type=Path, metavar="SUMMARY.json",
                        help="Profile the gateway with py-spy under gateway-only load instead of comparing.")
    parser.add_argument("--profile-rate", type=int, default=200, help="py-spy samples per second.")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    console = Console(stderr=args.json, width=None if sys.stderr.isatty() else 140)
    options = load_options(args)
    where = placement(args.pin)
    facts: dict[str, Any] = {"machine": machine(), "placement": where.describe()}
    pin(where.client)
    with tempfile.TemporaryDirectory(prefix="llmaas-bench-log-") as logs:
        access_log = os.path.join(logs, "access.log") if args.access_log else None
        with running_stack(where, access_log) as stack:
            if args.profile:
                uvloop.run(profile(stack, options, console, args.profile, args.profile_rate))
                return
            results = uvloop.run(measure(stack, options, console))
        if access_log:
            with open(access_log, "rb") as log:
                facts["access_log_lines"] = sum(1 for _ in log)
    rows = compare(results)
    facts["config"] = {
        "rounds": options.rounds,
        "serial_requests": options.serial_requests,
        "concurrent_requests": options.concurrent_requests,
        "max_phase_s": options.max_phase_s,
        "access_log": args.access_log,
        "stream_events": fake_upstream.STREAM_CHUNKS + 2,
    }
    print_report(console, rows, facts)
    if args.json:
        print(orjson.dumps({"benchmark": "gateway_overhead", **facts, "results": rows},
                           option=orjson.OPT_INDENT_2).decode())


if __name__ == "__main__":
    main()
