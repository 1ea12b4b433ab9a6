"""Tail latency: p50, p90, p99 of gateways that differ in one respect, side by side, with each
gateway's own view of its event loop (lag samples and garbage collections, from its /metrics).

    .venv/bin/python -m bench.tail_latency                              settled vs unsettled heap
    .venv/bin/python -m bench.tail_latency --sides settled,production   SQLite + in-process meter vs
                                                                        PostgreSQL + Redis
    .venv/bin/python -m bench.tail_latency --sides inline,production    settlement before vs after
                                                                        the answer is sent
    .venv/bin/python -m bench.tail_latency --sides settled,production,production@base --base OTHER/src
    .venv/bin/python -m bench.tail_latency --json
    .venv/bin/python -m bench.tail_latency --sides production --profile OUT.json    py-spy on it

Sides (every one with auth, key and tier limits, a monthly budget and the ledger on, limits too high
to trip; bench/gateway_server.py):

    unsettled    the garbage collector as CPython sets it: the tree before `settle_heap`
    settled      what `llmaas serve` runs: the start-up heap frozen, young threshold 10,000
    production   settled, with PostgreSQL for keys and usage and Redis for limits and budgets
    unledgered   settled, the ledger's records dropped: what its flush once a second costs the tail
    unsampled    settled, without the event-loop lag sampler: what the sampler costs
    inline       production, each answer settled before it is sent: what settling after it saves

A side named `SIDE@base` is SIDE on the tree whose `src` directory `--base` names (a `git archive` of
an earlier commit): `--sides settled,production,production@base --base /tmp/base/src` compares a
change to production mode with the tree before it, and both with the in-process mode.

The fake engine answers at once (bench/fake_upstream.py). Phases alternate between the sides, the
order flipping every round, so a neighbour's load on this shared machine hits each side alike; the
1-minute load average is printed before and after.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import uvloop
from rich.console import Console

from bench import fake_upstream, gateway_server
from bench.common import importing_from, stop
from bench.gateway_server import Metering
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
    verdict,
    warm_up,
)
from bench.load import Phase, Scenario
from bench.metering_cost import redis_server
from bench.profiling import profile_under_load

SIDES = {
    "unsettled": "CPython's gc thresholds, nothing frozen (the tree before)",
    "settled": "start-up heap frozen, young gc threshold 10,000 (`llmaas serve`)",
    "production": "settled, PostgreSQL + Redis for keys, limits, budgets and usage",
    "unledgered": "settled, usage records dropped instead of written (a diagnosis: no ledger flush)",
    "unsampled": "settled, without the event-loop lag sampler (what the sampler costs)",
    "inline": "production, each answer settled in Redis before it is sent (the tree before)",
}
P99_OVER_P50 = {1: 4.0}  # the targets; 3.0 at every higher concurrency
PRODUCTION_RPS_RATIO = 0.85  # production / settled
MODEL = fake_upstream.MODEL


@dataclass
class Stack:
    gateways: dict[str, gateway_server.Started]
    pids: dict[str, int]

    def targets(self) -> dict[str, Target]:
        return {
            side: Target(side, f"{started.url}/v1/chat/completions",
                         {"Authorization": f"Bearer {started.key}"},
                         {**self.pids, "gateway": started.process.pid or 0},
                         metrics_url=None if side.startswith("unsampled") else f"{started.url}/metrics")
            for side, started in self.gateways.items()
        }


@contextmanager
def running_stack(where: Placement, sides: list[str], base: str | None) -> Iterator[Stack]:
    ctx = multiprocessing.get_context("spawn")
    processes: list[BaseProcess] = []
    with ExitStack() as services:
        try:
            upstream_url, upstream = fake_upstream.start(ctx, processes, where.upstream)
            pids = {"engine": upstream.pid or 0, "client": os.getpid()}
            gateways = {}
            for side in sides:
                kind, at_base, _ = side.partition("@")
                options: dict[str, Any] = {"settle": kind != "unsettled", "sample_loop": kind != "unsampled",
                                           "settle_inline": kind == "inline"}
                metering = Metering(limits=True, ledger=kind != "unledgered")
                if kind in ("production", "inline"):
                    from tests.databases import postgres_server  # its throwaway server, as the tests'

                    redis_url, pids[f"redis {side}"] = services.enter_context(redis_server(where.upstream))
                    options["database_url"] = services.enter_context(postgres_server())
                    metering = Metering(limits=True, redis_url=redis_url)
                with importing_from(base if at_base else None):
                    gateways[side] = gateway_server.start(
                        ctx, processes, name=side, model_id=MODEL, upstream_url=f"{upstream_url}/v1",
                        cpu=where.gateway, metering=metering, **options)
            yield Stack(gateways, pids)
        finally:
            stop(processes)


def compare(results: dict[Scenario, dict[str, list[Phase]]], sides: list[str]) -> list[dict[str, Any]]:
    rows = []
    for scenario, by_side in results.items():
        row: dict[str, Any] = {"stream": scenario.stream, "concurrency": scenario.concurrency}
        target = P99_OVER_P50.get(scenario.concurrency, 3.0)
        for side in sides:
            summary = summarize(by_side[side])
            summary["p99_over_p50"] = summary["p99_ms"] / summary["p50_ms"] if summary["p50_ms"] else None
            summary["target_p99_over_p50"] = target
            row[side] = summary
        if "settled" in sides:
            row["rps_over_settled"] = {
                side: [round(p.rps / s.rps, 3) for s, p in zip(by_side["settled"], by_side[side], strict=True)
                       if s.rps]
                for side in sides if side.startswith("production")}
        rows.append(row)
    return rows


def print_report(console: Console, rows: list[dict[str, Any]], sides: list[str],
                 facts: dict[str, Any]) -> None:
    latency = table("Latency (ms; full answer), and what each gateway saw of its own event loop",
                    ("scenario", "side", "requests", "req/s", "p50", "p90", "p99", "p99/p50", "target",
                     "gateway CPU µs/req", "lag>5ms/samples ≤max ms · gc2/ms"),
                    left=("scenario", "side", "target"))
    for row in rows:
        for side in sides:
            s = row[side]
            ratio = s["p99_over_p50"]
            cpu = s["cpu_us_per_request"].get("gateway")
            latency.add_row(
                label(row), side, str(s["requests"]), f"{s['rps']:.0f}", f"{s['p50_ms']:.2f}",
                f"{s['p90_ms']:.2f}", f"{s['p99_ms']:.2f}", "" if ratio is None else f"{ratio:.1f}",
                verdict(ratio is not None and ratio <= s["target_p99_over_p50"],
                        f"≤ {s['target_p99_over_p50']:g}×"),
                "" if cpu is None else f"{cpu:.0f}", stalls_text(s["stalls"]),
            )
        latency.add_section()
    console.print(latency)
    if rows and rows[0].get("rps_over_settled"):
        ratios = table("req/s of production mode / settled, per round (measured side by side)",
                       ("scenario", "side", "per round", "target"), left=("scenario", "side", "target"))
        for row in rows:
            for side, per_round in row["rps_over_settled"].items():
                median = sorted(per_round)[len(per_round) // 2] if per_round else 0.0
                ratios.add_row(label(row), side, " ".join(f"{r:.2f}" for r in per_round),
                               verdict(median >= PRODUCTION_RPS_RATIO, f"≥ {PRODUCTION_RPS_RATIO} median"))
        console.print(ratios)
    console.print("Last column, from the gateway's /metrics over the measured part: lag samples (10/s) over "
                  "5 ms / all samples, the bucket of the largest lag, full collections / their pause in ms.")
    for side in sides:
        console.print(f"{side}: {describe(side, facts.get('base'))}")
    console.print(f"{machine_text(facts)}, {facts['loadavg_end']:.2f} at the end; {facts['placement']}. "
                  f"{facts['machine']['date']}.")
    for row in rows:
        for side in sides:
            print_errors(console, side, row[side])


def describe(side: str, base: str | None) -> str:
    kind, at_base, _ = side.partition("@")
    return f"{SIDES[kind]}, on the tree at {base}" if at_base else SIDES[kind]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.tail_latency", description=__doc__.split("\n")[0])
    add_load_arguments(parser, rounds=3, rounds_help="Alternating rounds over the sides.",
                       concurrency="1,32,64", stream="no", serial_requests=2000,
                       concurrent_requests=6000, max_phase_s=15.0)
    parser.add_argument("--sides", default="unsettled,settled",
                        help=f"Comma-separated, from: {', '.join(SIDES)}; SIDE@base: on --base's tree.")
    parser.add_argument("--base", metavar="OTHER/src",
                        help="Another tree's src directory, for the sides named SIDE@base.")
    parser.add_argument("--profile", type=Path, metavar="SUMMARY.json",
                        help="Profile the first side's gateway with py-spy under its own load instead.")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    sides = [side for side in args.sides.split(",") if side]
    if unknown := {side.removesuffix("@base") for side in sides} - set(SIDES):
        raise SystemExit(f"unknown sides: {', '.join(sorted(unknown))}; choose from {', '.join(SIDES)}")
    if any(side.endswith("@base") for side in sides) != (args.base is not None):
        raise SystemExit("--base goes with sides named SIDE@base, and they with it")
    console = report_console(args.json)
    options: Options
    options, where, facts = prepare(args)
    facts["base"] = args.base
    with running_stack(where, sides, args.base) as stack:
        targets = stack.targets()
        if args.profile:
            first = targets[sides[0]]
            only = {sides[0]: first}
            uvloop.run(profile_under_load(
                first.pids["gateway"], lambda: alternate(only, options, console), args.profile,
                rate=200, top=25, console=console, title=f"{sides[0]} gateway"))
            return
        uvloop.run(warm_up(targets, options.scenarios))
        results = uvloop.run(alternate(targets, options, console))
    facts["loadavg_end"] = os.getloadavg()[0]
    facts["sides"] = {side: describe(side, args.base) for side in sides}
    rows = compare(results, sides)
    print_report(console, rows, sides, facts)
    if args.json:
        print_json("tail_latency", facts, rows)


if __name__ == "__main__":
    main()
