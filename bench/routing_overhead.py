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
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from typing import Any

import orjson
import uvloop
from rich.console import Console
from rich.table import Table

from bench import fake_upstream, gateway_server
from bench.common import free_port, machine, pin, stop, wait_http
from bench.gateway_overhead import (
    Options,
    Placement,
    _ms,
    _us,
    add_load_arguments,
    load_options,
    placement,
    requests_for,
    summarize,
)
from bench.load import Phase, Scenario, run_phase

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
    def target(size: int) -> tuple[str, dict[str, str]]:
        return (f"{stack.gateway_urls[size]}/v1/chat/completions",
                {"Authorization": f"Bearer {stack.keys[size]}"})

    for scenario in options.scenarios:  # untimed: imports, schema caches, the key lookup, 8 pools
        for size in POOL_SIZES:
            url, headers = target(size)
            await run_phase(f"pool-{size}", url, headers, scenario, warmup=0, requests=200, max_s=20)

    results: dict[Scenario, dict[int, list[Phase]]] = {
        s: {n: [] for n in POOL_SIZES} for s in options.scenarios
    }
    for round_index in range(options.rounds):
        order = POOL_SIZES if round_index % 2 == 0 else tuple(reversed(POOL_SIZES))
        for scenario in options.scenarios:
            warmup, measured = requests_for(options, scenario)
            for size in order:
                url, headers = target(size)
                phase = await run_phase(f"pool-{size}", url, headers, scenario, warmup=warmup,
                                        requests=measured, max_s=options.max_phase_s, pids=stack.pids(size))
                results[scenario][size].append(phase)
                console.log(f"round {round_index + 1}/{options.rounds} {scenario.label:16} pool {size}"
                            f" {phase.rps:8.0f} req/s  p50 {_ms(phase.latencies, 50):6.2f} ms"
                            + (f"  errors {sum(phase.errors.values())}" if phase.errors else ""))
    return results


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
    table = Table(title="Gateway with a pool of 1 vs 8 upstreams (ms; full answer)")
    for column in ("scenario", "pool", "requests", "errors", "req/s", "p50", "p90", "p99",
                   "CPU µs/req gateway+engine+client"):
        table.add_column(column, justify="left" if column in ("scenario", "pool") else "right")
    for row in rows:
        label = f"{'stream' if row['stream'] else 'non-stream'} c={row['concurrency']}"
        for size in POOL_SIZES:
            s = row[f"pool_{size}"]
            cpu = s["cpu_us_per_request"]
            table.add_row(label, str(size), str(s["requests"]), str(s["errors"]), f"{s['rps']:.0f}",
                          f"{s['p50_ms']:.2f}", f"{s['p90_ms']:.2f}", f"{s['p99_ms']:.2f}",
                          " + ".join(_us(cpu.get(name)) for name in ("gateway", "engine", "client")))
        table.add_section()
    console.print(table)
    ratios = Table(title=f"Pool of {many} vs pool of {one} (measured side by side)")
    for column in ("scenario", f"req/s {many}/{one}", "per round", "p50 Δ ms", "p99 Δ ms",
                   f"gateway CPU µs/req {one} → {many}"):
        ratios.add_column(column, justify="left" if column == "scenario" else "right")
    for row in rows:
        label = f"{'stream' if row['stream'] else 'non-stream'} c={row['concurrency']}"
        cpu = row["gateway_cpu_us_per_request"]
        ratios.add_row(label, f"{row['rps_ratio']:.3f}",
                       " ".join(f"{r:.2f}" for r in row["rps_ratio_per_round"]),
                       f"{row['p50_delta_ms']:+.2f}", f"{row['p99_delta_ms']:+.2f}",
                       f"{_us(cpu[str(one)])} → {_us(cpu[str(many)])}")
    console.print(ratios)
    m = facts["machine"]
    console.print(f"Machine: {m['nproc']} CPUs, {m['cpu_model']}, load {m['loadavg_1m']:.2f} at start; "
                  f"{facts['placement']}. {m['date']}.")
    for row in rows:
        for size in POOL_SIZES:
            if row[f"pool_{size}"]["errors"]:
                console.print(f"[red]pool {size} errors:[/red] {row[f'pool_{size}']['error_kinds']}")


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
    console = Console(stderr=args.json, width=None if sys.stderr.isatty() else 140)
    options = load_options(args)
    where = placement(args.pin)
    facts: dict[str, Any] = {"machine": machine(), "placement": where.describe()}
    pin(where.client)
    with running_stack(where) as stack:
        results = uvloop.run(measure(stack, options, console))
    rows = compare(results)
    facts["config"] = {"rounds": options.rounds, "serial_requests": options.serial_requests,
                       "concurrent_requests": options.concurrent_requests,
                       "max_phase_s": options.max_phase_s, "pool_sizes": list(POOL_SIZES),
                       "engine": "one fake-engine process listening on 8 ports"}
    print_report(console, rows, facts)
    if args.json:
        print(orjson.dumps({"benchmark": "routing_overhead", **facts, "results": rows},
                           option=orjson.OPT_INDENT_2).decode())


if __name__ == "__main__":
    main()
