"""What the gateway adds: the same requests to a fast fake engine, directly and through the gateway.

    .venv/bin/python -m bench.gateway_overhead            tables and ratios
    .venv/bin/python -m bench.gateway_overhead --json     the same numbers as JSON on stdout
    .venv/bin/python -m bench.gateway_overhead --profile OUT.json   py-spy on the gateway instead

Three processes: the fake engine (raw ASGI, bench/fake_upstream.py), the gateway (built exactly as
production builds it, bench/gateway_server.py) and this one, the load generator (aiohttp, keep-alive
pool, N workers). With two or more CPUs the gateway gets a CPU of its own and the load generator and
the fake share another, so direct and gateway runs put the same work on the same CPU and the gateway
adds only its own; on a busy shared machine it leaves placement to the scheduler (see `harness.placement`).
Besides latency it reports CPU time per request of each process (from /proc/<pid>/task/*/schedstat),
which a neighbour's load disturbs far less than wall-clock time. Direct and gateway phases alternate,
round after round, and the order flips every round, so drift on a noisy machine hits both alike.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import uvloop
from rich.console import Console

from bench import fake_upstream, gateway_server
from bench.common import stop
from bench.harness import (
    Options,
    Placement,
    Target,
    add_load_arguments,
    alternate,
    label,
    machine_text,
    prepare,
    print_errors,
    print_json,
    report_console,
    stalls_text,
    summarize,
    table,
    us,
    verdict,
    warm_up,
)
from bench.load import Phase, Scenario
from bench.profiling import profile_under_load

TARGET_ADDED_P50_MS = 1.0  # at concurrency 1
MODEL = fake_upstream.MODEL


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

    def targets(self, *names: str) -> dict[str, Target]:
        both = {
            "direct": Target("direct", f"{self.upstream_url}/v1/chat/completions", {}, self.pids),
            "gateway": Target("gateway", f"{self.gateway_url}/v1/chat/completions",
                              {"Authorization": f"Bearer {self.key}"}, self.pids,
                              metrics_url=f"{self.gateway_url}/metrics"),
        }
        return {name: both[name] for name in names}


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


async def measure(
    stack: Stack, options: Options, console: Console, targets: tuple[str, ...] = ("direct", "gateway")
) -> dict[Scenario, dict[str, list[Phase]]]:
    sides = stack.targets(*targets)
    await warm_up(sides, options.scenarios)
    return await alternate(sides, options, console)


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
    latency = table("Latency and throughput (ms; full answer)",
                    ("scenario", "target", "requests", "errors", "req/s", "p50", "p90", "p99",
                     "first byte p50", "CPU µs/req gateway+engine+client"), left=("scenario", "target"))
    for row in rows:
        for target in ("direct", "gateway"):
            s = row[target]
            first = s["first_byte_p50_ms"]
            cpu = s["cpu_us_per_request"]
            latency.add_row(
                label(row), target, str(s["requests"]), str(s["errors"]), f"{s['rps']:.0f}",
                f"{s['p50_ms']:.2f}", f"{s['p90_ms']:.2f}", f"{s['p99_ms']:.2f}",
                "" if first is None else f"{first:.2f}",
                " + ".join(us(cpu.get(name)) for name in ("gateway", "engine", "client")),
            )
        latency.add_section()
    console.print(latency)

    ratios = table("Gateway vs direct (measured side by side)",
                   ("scenario", "added p50 ms", "added p99 ms", "req/s gateway/direct", "per round",
                    "gateway CPU µs/req", "target"), left=("scenario", "target"))
    for row in rows:
        met = "" if "target_met" not in row else verdict(row["target_met"],
                                                         f"≤ {TARGET_ADDED_P50_MS:g} ms p50")
        ratios.add_row(
            label(row), f"{row['added_p50_ms']:+.2f}", f"{row['added_p99_ms']:+.2f}",
            f"{row['rps_ratio']:.2f}", " ".join(f"{r:.2f}" for r in row["rps_ratio_per_round"]),
            us(row["gateway_cpu_us_per_request"]), met,
        )
    console.print(ratios)
    console.print("The gateway's own event loop (lag samples over 5 ms / all, the largest lag's bucket in ms "
                  "· full collections / their pause in ms): " + "; ".join(
                      f"{label(row)} {stalls_text(row['gateway']['stalls'])}" for row in rows))
    console.print(f"Target: ≤ {TARGET_ADDED_P50_MS:g} ms p50 added latency at concurrency 1.")
    console.print(f"{machine_text(facts)}; {facts['placement']}. {facts['machine']['date']}.")
    for row in rows:
        for target in ("direct", "gateway"):
            print_errors(console, target, row[target])


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
    console = report_console(args.json)
    options, where, facts = prepare(args)
    with tempfile.TemporaryDirectory(prefix="llmaas-bench-log-") as logs:
        access_log = os.path.join(logs, "access.log") if args.access_log else None
        with running_stack(where, access_log) as stack:
            if args.profile:
                # py-spy on the gateway under gateway-only load
                uvloop.run(profile_under_load(
                    stack.gateway_pid, lambda: measure(stack, options, console, targets=("gateway",)),
                    args.profile, rate=args.profile_rate, top=20, console=console, title="Gateway process"))
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
        print_json("gateway_overhead", facts, rows)


if __name__ == "__main__":
    main()
