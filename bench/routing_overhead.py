"""What a pool costs: the gateway with one model served by 1 upstream against the same with 8.

    .venv/bin/python -m bench.routing_overhead            tables and ratios
    .venv/bin/python -m bench.routing_overhead --json     the same numbers as JSON on stdout

Four processes: one fake engine (bench/fake_upstream.py) listening on 8 ports with one event loop
(8 engine processes would swamp a 2-core machine, and the gateway cannot tell the difference: each
port is a separate upstream with its own connections, health state, breaker and in-flight count),
two gateways built as production builds them (bench/gateway_server.py), one whose model has a pool
of 1 upstream (the first port) and one whose model has a pool of all 8, and this process, the load
generator. The two gateways run side by side and their phases alternate, the order flipping every
round; each phase reports the CPU time of the gateway it loads, so the per-request cost of choosing
among 8 targets (least outstanding, breakers, health) shows up as µs of gateway CPU per request.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from typing import Any

import uvloop
from rich.console import Console

from bench import fake_upstream, gateway_server
from bench.common import free_port, stop, wait_http
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
    summarize,
    table,
    us,
    warm_up,
)
from bench.load import Phase, Scenario

MODEL = fake_upstream.MODEL
POOL_SIZES = (1, 8)


@dataclass
class Stack:
    gateway_urls: dict[int, str]  # pool size -> gateway base URL
    keys: dict[int, str]
    gateway_pids: dict[int, int]
    engine_pid: int

    def pids(self, size: int) -> dict[str, int]:
        return {"gateway": self.gateway_pids[size], "engine": self.engine_pid, "client": os.getpid()}

    def targets(self) -> dict[int, Target]:
        return {size: Target(f"pool-{size}", f"{self.gateway_urls[size]}/v1/chat/completions",
                             {"Authorization": f"Bearer {self.keys[size]}"}, self.pids(size))
                for size in POOL_SIZES}


@contextmanager
def running_stack(where: Placement) -> Iterator[Stack]:
    ctx = multiprocessing.get_context("spawn")
    processes: list[BaseProcess] = []
    try:
        ports = [free_port() for _ in range(max(POOL_SIZES))]
        engine = ctx.Process(target=fake_upstream.serve_many, args=(ports, where.upstream),
                             name="fake-engine-8-ports")
        engine.start()
        processes.append(engine)
        for port in ports:
            wait_http(f"http://127.0.0.1:{port}/v1/models", timeout_s=30, alive=engine.is_alive,
                      what="fake engine")
        urls, keys, pids = {}, {}, {}
        for size in POOL_SIZES:
            gateway = gateway_server.start(
                ctx, processes, name=f"gateway-pool-{size}", model_id=MODEL,
                upstream_url=[f"http://127.0.0.1:{port}/v1" for port in ports[:size]], cpu=where.gateway)
            assert gateway.process.pid is not None
            urls[size], keys[size], pids[size] = gateway.url, gateway.key, gateway.process.pid
        assert engine.pid is not None
        yield Stack(urls, keys, pids, engine.pid)
    finally:
        stop(processes)


async def measure(stack: Stack, options: Options, console: Console) -> dict[Scenario, dict[int, list[Phase]]]:
    targets = stack.targets()
    await warm_up(targets, options.scenarios)  # imports, schema caches, the key lookup, 8 pools
    return await alternate(targets, options, console)


def compare(results: dict[Scenario, dict[int, list[Phase]]]) -> list[dict[str, Any]]:
    rows = []
    one, many = POOL_SIZES
    for scenario, by_size in results.items():
        small, large = summarize(by_size[one]), summarize(by_size[many])
        per_round = [b.rps / a.rps for a, b in zip(by_size[one], by_size[many], strict=True) if a.rps]
        cpu_one = small["cpu_us_per_request"].get("gateway")
        cpu_many = large["cpu_us_per_request"].get("gateway")
        rows.append({
            "stream": scenario.stream,
            "concurrency": scenario.concurrency,
            f"pool_{one}": small,
            f"pool_{many}": large,
            "rps_ratio": large["rps"] / small["rps"] if small["rps"] else None,
            "rps_ratio_per_round": [round(r, 3) for r in per_round],
            "p50_delta_ms": large["p50_ms"] - small["p50_ms"],
            "p99_delta_ms": large["p99_ms"] - small["p99_ms"],
            "gateway_cpu_us_per_request": {str(one): cpu_one, str(many): cpu_many},
            "gateway_cpu_ratio": cpu_many / cpu_one if cpu_one and cpu_many else None,
        })
    return rows


def print_report(console: Console, rows: list[dict[str, Any]], facts: dict[str, Any]) -> None:
    one, many = POOL_SIZES
    latency = table("Gateway with a pool of 1 vs 8 upstreams (ms; full answer)",
                    ("scenario", "pool", "requests", "errors", "req/s", "p50", "p90", "p99",
                     "CPU µs/req gateway+engine+client"), left=("scenario", "pool"))
    for row in rows:
        for size in POOL_SIZES:
            s = row[f"pool_{size}"]
            cpu = s["cpu_us_per_request"]
            latency.add_row(label(row), str(size), str(s["requests"]), str(s["errors"]), f"{s['rps']:.0f}",
                            f"{s['p50_ms']:.2f}", f"{s['p90_ms']:.2f}", f"{s['p99_ms']:.2f}",
                            " + ".join(us(cpu.get(name)) for name in ("gateway", "engine", "client")))
        latency.add_section()
    console.print(latency)
    ratios = table(f"Pool of {many} vs pool of {one} (measured side by side)",
                   ("scenario", f"req/s {many}/{one}", "per round", "p50 Δ ms", "p99 Δ ms",
                    f"gateway CPU µs/req {one} → {many}"), left=("scenario",))
    for row in rows:
        cpu = row["gateway_cpu_us_per_request"]
        ratios.add_row(label(row), f"{row['rps_ratio']:.3f}",
                       " ".join(f"{r:.2f}" for r in row["rps_ratio_per_round"]),
                       f"{row['p50_delta_ms']:+.2f}", f"{row['p99_delta_ms']:+.2f}",
                       f"{us(cpu[str(one)])} → {us(cpu[str(many)])}")
    console.print(ratios)
    console.print(f"{machine_text(facts)}; {facts['placement']}. {facts['machine']['date']}.")
    for row in rows:
        for size in POOL_SIZES:
            print_errors(console, f"pool {size}", row[f"pool_{size}"])


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.routing_overhead",
        description="The gateway with a pool of 1 upstream vs 8, against one fast fake engine on 8 ports.",
    )
    add_load_arguments(parser, rounds=3, rounds_help="Alternating pool-1/pool-8 rounds.", stream="no",
                       concurrent_requests=3000, max_phase_s=8.0)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    console = report_console(args.json)
    options, where, facts = prepare(args)
    with running_stack(where) as stack:
        results = uvloop.run(measure(stack, options, console))
    rows = compare(results)
    facts["config"] = {"rounds": options.rounds, "serial_requests": options.serial_requests,
                       "concurrent_requests": options.concurrent_requests,
                       "max_phase_s": options.max_phase_s, "pool_sizes": list(POOL_SIZES),
                       "engine": "one fake-engine process listening on 8 ports"}
    print_report(console, rows, facts)
    if args.json:
        print_json("routing_overhead", facts, rows)


if __name__ == "__main__":
    main()
