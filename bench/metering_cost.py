"""What metering costs: the gateway with limits and budgets checked vs. with metering off, in one run.

    .venv/bin/python -m bench.metering_cost                 tables and ratios (2.5-3 minutes here)
    .venv/bin/python -m bench.metering_cost --json          the same numbers as JSON on stdout
    .venv/bin/python -m bench.metering_cost --variants off,off-noledger,memory,redis
    .venv/bin/python -m bench.metering_cost --variants redis --profile OUT.json      py-spy on a gateway

One fake engine (bench/fake_upstream.py), one gateway process per variant (bench/gateway_server.py,
each with its own SQLite home), a throwaway Redis on loopback for the `redis` variant, and this
process as the load generator. Variants:

    off            a no-op meter (admits everything, returns an empty LimitState), a key without
                   limits on the default tenant's unlimited tier; the usage ledger still writes
    off-noledger   the same, and usage records are dropped instead of written
    memory         the in-process meter (`MemoryMeter`), a key with RPM, TPM and a monthly budget on a
                   tenant whose tier has RPM, TPM, output tokens per hour and per day and a monthly
                   cap, all too high to trip: 6 rate buckets and 2 budget reservations per request
    redis          the same limits through `RedisMeter` (`LLMAAS_REDIS_URL`), one Lua script per
                   admission and one per settlement

Variants take turns phase by phase, and the order rotates every round, so drift on a noisy machine
hits all of them alike. Besides latency it reports CPU time per request of the gateway and of Redis,
which a neighbour's load disturbs far less than wall-clock time.

Target (issue 3): metering and limits on cost at most 15 % of the gateway's requests/s.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import aiohttp
import redis
import uvloop
from rich.console import Console

from bench import fake_upstream, gateway_server
from bench.common import cpu_seconds, free_port
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
    summarize,
    table,
    us,
    verdict,
    warm_up,
)
from bench.load import Phase, Scenario, request_body
from bench.profiling import profile_under_load

MODEL = fake_upstream.MODEL
TARGET_RPS_RATIO = 0.85  # metering on costs at most 15 % of requests/s

VARIANTS: dict[str, tuple[str, Metering]] = {
    "off": ("no-op meter, key without limits; ledger on", Metering(meter="noop")),
    "off-noledger": ("no-op meter, key without limits, ledger records dropped",
                     Metering(meter="noop", ledger=False)),
    "memory": ("in-process meter, key + tier limits and budgets", Metering(limits=True)),
    "redis": ("Redis meter, key + tier limits and budgets", Metering(limits=True)),  # url set at start
}


@dataclass
class Gateway:
    variant: str
    url: str
    key: str
    pid: int
    process: BaseProcess
    report: Connection  # the key arrives on it, then the ledger's row count at shutdown
    ledger_rows: int | None = None


@dataclass
class Stack:
    upstream_pid: int
    redis_pid: int | None
    redis_url: str | None
    gateways: dict[str, Gateway]

    def redis_state(self) -> str:
        """What the Redis meter left behind: its keys and the budgets' counters."""
        assert self.redis_url is not None
        client = redis.Redis.from_url(self.redis_url, decode_responses=True)
        try:
            keys = sorted(client.scan_iter("llmaas:*"))
            budgets = [k for k in keys if ":budget:" in k and not k.endswith(":holds")]
            counters = ", ".join(
                f"{k.split(':')[2]} spent {c.get('spent', 0)} reserved {c.get('reserved', 0)} nano"
                for k in budgets if (c := client.hgetall(k)) is not None
            )
            return f"{len(keys)} keys; {counters}"
        finally:
            client.close()

    def pids(self, variant: str) -> dict[str, int]:
        pids = {"gateway": self.gateways[variant].pid, "engine": self.upstream_pid, "client": os.getpid()}
        if self.redis_pid is not None:
            pids["redis"] = self.redis_pid
        return pids

    def targets(self, variants: list[str]) -> dict[str, Target]:
        return {v: Target(v, f"{self.gateways[v].url}/v1/chat/completions",
                          {"Authorization": f"Bearer {self.gateways[v].key}"}, self.pids(v))
                for v in variants}


# -- processes ------------------------------------------------------------------------------------


@contextmanager
def redis_server(cpu: int | None) -> Iterator[tuple[str, int]]:
    """A throwaway Redis on loopback: no persistence, its files in a temporary directory."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed (apt-get install redis-server), or leave out "
                         "the redis variant: --variants off,memory")
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="llmaas-bench-redis-") as directory:
        process = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--protected-mode", "yes",
             "--save", "", "--appendonly", "no", "--dir", directory, "--loglevel", "warning"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        try:
            if cpu is not None:
                os.sched_setaffinity(process.pid, {cpu})
            client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=1)
            deadline = time.monotonic() + 15
            while True:
                try:
                    client.ping()
                    break
                except redis.RedisError:
                    if process.poll() is not None or time.monotonic() > deadline:
                        stderr = process.stderr.read().decode() if process.stderr else ""
                        raise RuntimeError(f"redis-server did not start: {stderr[-500:]}") from None
                    time.sleep(0.05)
            client.close()
            yield f"redis://127.0.0.1:{port}/0", process.pid
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


@contextmanager
def running_stack(where: Placement, variants: list[str]) -> Iterator[Stack]:
    ctx = multiprocessing.get_context("spawn")
    processes: list[BaseProcess] = []
    gateways: dict[str, Gateway] = {}
    with ExitStack() as resources:
        redis_url, redis_pid = None, None
        if "redis" in variants:
            redis_url, redis_pid = resources.enter_context(redis_server(where.upstream))
        try:
            upstream_url, upstream = fake_upstream.start(ctx, processes, where.upstream)
            for variant in variants:
                metering = VARIANTS[variant][1]
                if variant == "redis":
                    metering = replace(metering, redis_url=redis_url)
                started = gateway_server.start(
                    ctx, processes, name=f"{variant} gateway", model_id=MODEL,
                    upstream_url=f"{upstream_url}/v1", cpu=where.gateway, metering=metering)
                assert started.process.pid is not None
                gateways[variant] = Gateway(variant, started.url, started.key, started.process.pid,
                                            started.process, started.report)
            assert upstream.pid is not None
            yield Stack(upstream.pid, redis_pid, redis_url, gateways)
        finally:
            for child in reversed(processes):
                child.terminate()
            for gateway in gateways.values():  # written after the lifespan flushed the ledger
                if gateway.report.poll(20):
                    with suppress(EOFError):
                        gateway.ledger_rows = gateway.report.recv()
            for child in reversed(processes):
                child.join(15)
                if child.is_alive():
                    child.kill()
                    child.join(5)


# -- measuring ------------------------------------------------------------------------------------


async def probe(gateway: Gateway) -> dict[str, str]:
    """One request; its x-ratelimit-* headers show whether limits were checked."""
    async with aiohttp.ClientSession() as session, session.post(
        f"{gateway.url}/v1/chat/completions", data=request_body(False),
        headers={"Authorization": f"Bearer {gateway.key}", "Content-Type": "application/json"},
    ) as response:
        await response.read()
        if response.status != 200:
            raise RuntimeError(f"{gateway.variant} gateway answered {response.status}")
        return {str(k): v for k, v in response.headers.items() if k.lower().startswith("x-ratelimit-")}


async def measure(
    stack: Stack, variants: list[str], options: Options, console: Console
) -> tuple[dict[Scenario, dict[str, list[Phase]]], dict[str, int]]:
    """The phases per scenario and variant, and the requests sent to each variant, warm-ups included."""
    targets = stack.targets(variants)
    # Untimed: first requests pay for imports, pydantic schema caches, the key lookup, budget seeding.
    sent = await warm_up(targets, options.scenarios, strict=True)
    results = await alternate(targets, options, console, rotate=True)
    for by_variant in results.values():
        for variant, phases in by_variant.items():
            sent[variant] += sum(phase.sent for phase in phases)
    return results, sent


def compare(results: dict[Scenario, dict[str, list[Phase]]], variants: list[str]) -> list[dict[str, Any]]:
    rows = []
    base = "off" if "off" in variants else variants[0]
    for scenario, by_variant in results.items():
        summaries = {v: summarize(phases) for v, phases in by_variant.items()}
        off = summaries[base]
        off_cpu = off["cpu_us_per_request"]
        for variant in variants:
            s = summaries[variant]
            cpu = s["cpu_us_per_request"]
            gateway_cpu = cpu.get("gateway") or 0.0
            redis_cpu = (cpu.get("redis") or 0.0) if variant == "redis" else 0.0
            per_round = [v.rps / o.rps for o, v in zip(by_variant[base], by_variant[variant], strict=True)
                         if o.rps]
            row: dict[str, Any] = {
                "stream": scenario.stream,
                "concurrency": scenario.concurrency,
                "variant": variant,
                **s,
                "gateway_cpu_us": gateway_cpu,
                "redis_cpu_us": redis_cpu,
            }
            if variant != base:
                rps_ratio = s["rps"] / off["rps"] if off["rps"] else None
                off_total = (off_cpu.get("gateway") or 0.0)
                row.update({
                    "vs": base,
                    "rps_ratio": rps_ratio,
                    "rps_ratio_per_round": [round(r, 3) for r in per_round],
                    "rps_ratio_median_round": statistics.median(per_round) if per_round else None,
                    "added_p50_ms": s["p50_ms"] - off["p50_ms"],
                    "added_p99_ms": s["p99_ms"] - off["p99_ms"],
                    "added_cpu_us": gateway_cpu + redis_cpu - off_total,
                    # When the gateway is CPU-bound (concurrency 64), req/s follows CPU per request.
                    "cpu_ratio": off_total / (gateway_cpu + redis_cpu) if gateway_cpu else None,
                    "target_rps_ratio": TARGET_RPS_RATIO,
                    # Judged on the median round: a neighbour's burst during one turn of one variant
                    # moves the pooled ratio, not the median (both are reported).
                    "target_met": bool(per_round) and statistics.median(per_round) >= TARGET_RPS_RATIO,
                })
            rows.append(row)
    return rows


# -- report ---------------------------------------------------------------------------------------


def print_report(console: Console, rows: list[dict[str, Any]], facts: dict[str, Any]) -> None:
    latency = table("Latency and throughput per variant (ms; full answer)",
                    ("scenario", "variant", "requests", "errors", "req/s", "p50", "p90", "p99",
                     "CPU µs/req gateway", "redis", "engine", "client"), left=("scenario", "variant"))
    previous = None
    for row in rows:
        if previous is not None and label(row) != previous:
            latency.add_section()
        previous = label(row)
        cpu = row["cpu_us_per_request"]
        latency.add_row(
            label(row), row["variant"], str(row["requests"]), str(row["errors"]), f"{row['rps']:.0f}",
            f"{row['p50_ms']:.2f}", f"{row['p90_ms']:.2f}", f"{row['p99_ms']:.2f}",
            us(cpu.get("gateway")), us(cpu.get("redis")) if "redis" in cpu else "",
            us(cpu.get("engine")), us(cpu.get("client")),
        )
    console.print(latency)

    ratios = table("Metering on vs off (measured side by side)",
                   ("scenario", "variant", "req/s on/off", "median round", "rounds min-max", "added p50 ms",
                    "added p99 ms", "added CPU µs/req", "CPU off/on", "target"),
                   left=("scenario", "variant", "target"))
    for row in rows:
        if "vs" not in row:
            continue
        ratios.add_row(
            label(row), f"{row['variant']} / {row['vs']}", f"{row['rps_ratio']:.2f}",
            f"{row['rps_ratio_median_round']:.2f}",
            f"{min(row['rps_ratio_per_round']):.2f}-{max(row['rps_ratio_per_round']):.2f}",
            f"{row['added_p50_ms']:+.2f}", f"{row['added_p99_ms']:+.2f}", f"{row['added_cpu_us']:+.0f}",
            "" if row["cpu_ratio"] is None else f"{row['cpu_ratio']:.2f}",
            verdict(row["target_met"], f"≥ {TARGET_RPS_RATIO:g}"),
        )
    console.print(ratios)
    console.print("Target: req/s on/off ≥ 0.85 in the median round (the pooled ratio moves with one "
                  "disturbed turn). CPU off/on: the off variant's gateway CPU per request over this "
                  "variant's gateway + Redis CPU per request, the req/s ratio a CPU-bound gateway "
                  "would show.")
    console.print(f"{machine_text(facts)}; {facts['placement']}. {facts['machine']['date']}.")
    for variant, info in facts["variants"].items():
        limits = info["ratelimit_headers"]
        console.print(f"{variant}: {info['what']}; x-ratelimit-limit-requests/tokens: "
                      f"{limits.get('x-ratelimit-limit-requests', '-')}/"
                      f"{limits.get('x-ratelimit-limit-tokens', '-')}; ledger rows written "
                      f"{info['ledger_rows']} for {info['requests_sent']} requests sent"
                      + (f"; Redis: {info['redis']}" if "redis" in info else ""))
    whole = table("Over the whole run (warm-ups included, every scenario): CPU µs per request",
                  ("variant", "requests", "gateway", "redis-server", "total", "vs off"), left=("variant",))
    variants = facts["variants"]
    base = next(iter(variants.values()))["whole_run_gateway_cpu_us_per_request"]
    for variant, info in variants.items():
        gateway = info["whole_run_gateway_cpu_us_per_request"]
        redis_cpu = info.get("whole_run_redis_cpu_us_per_request")
        total = gateway + (redis_cpu or 0.0)
        whole.add_row(variant, str(info["requests_sent"]), f"{gateway:.0f}",
                      "" if redis_cpu is None else f"{redis_cpu:.0f}", f"{total:.0f}",
                      f"{total / base:.2f}×")
    console.print(whole)
    for row in rows:
        print_errors(console, f"{row['variant']} {label(row)}", row)


# -- main -----------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.metering_cost",
        description="Gateway requests/s and latency with metering and limits on vs off, in one run.",
    )
    parser.add_argument("--variants", default="off,memory,redis",
                        help=f"Comma-separated, from {', '.join(VARIANTS)}; ratios are against the first "
                             "(off when present).")
    add_load_arguments(parser, rounds=5, concurrent_requests=1500, max_phase_s=10.0,
                       rounds_help="Rounds; the variants' order rotates each (short phases, many turns: a "
                                   "neighbour's burst then hits one turn of one variant, not a whole one).")
    parser.add_argument("--profile", type=Path, metavar="SUMMARY.json",
                        help="Profile the last variant's gateway with py-spy under its load alone instead.")
    parser.add_argument("--profile-rate", type=int, default=200, help="py-spy samples per second.")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    console = report_console(args.json, width=170)
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown or (len(variants) < 2 and not args.profile):
        raise SystemExit(f"--variants: two or more of {', '.join(VARIANTS)} (unknown: {unknown})")
    if "off" in variants:  # the baseline first
        variants.remove("off")
        variants.insert(0, "off")
    options, where, facts = prepare(args)
    started = time.monotonic()
    if args.profile:  # py-spy on the last variant's gateway under its load alone
        variant = variants[-1]
        with running_stack(where, [variant]) as stack:
            uvloop.run(profile_under_load(
                stack.gateways[variant].pid, lambda: measure(stack, [variant], options, console),
                args.profile, rate=args.profile_rate, top=25, console=console,
                title=f"Gateway process, {variant}"))
        return
    with running_stack(where, variants) as stack:
        headers = {v: uvloop.run(probe(stack.gateways[v])) for v in variants}
        # Over the whole run, every gateway lives as long as the others and sees the same mix of
        # requests, so its background work (health checks, ledger flushes) weighs on all alike.
        before = {v: cpu_seconds(stack.gateways[v].pid) for v in variants}
        redis_before = cpu_seconds(stack.redis_pid) if stack.redis_pid else 0.0
        results, sent = uvloop.run(measure(stack, variants, options, console))
        whole_run_cpu = {v: cpu_seconds(stack.gateways[v].pid) - before[v] for v in variants}
        if stack.redis_pid:
            whole_run_cpu["redis-server"] = cpu_seconds(stack.redis_pid) - redis_before
        redis_state = stack.redis_state() if "redis" in variants else None
    facts["elapsed_s"] = round(time.monotonic() - started, 1)
    facts["variants"] = {
        v: {"what": VARIANTS[v][0], "ratelimit_headers": headers[v],
            "ledger_rows": stack.gateways[v].ledger_rows, "requests_sent": sent[v] + 1,
            "whole_run_gateway_cpu_us_per_request": whole_run_cpu[v] / sent[v] * 1e6}
        for v in variants
    }
    if "redis" in variants:
        facts["variants"]["redis"]["whole_run_redis_cpu_us_per_request"] = (
            whole_run_cpu["redis-server"] / sent["redis"] * 1e6)
    if redis_state is not None:
        facts["variants"]["redis"]["redis"] = redis_state
    facts["config"] = {
        "rounds": options.rounds,
        "serial_requests": options.serial_requests,
        "concurrent_requests": options.concurrent_requests,
        "max_phase_s": options.max_phase_s,
        "stream_events": fake_upstream.STREAM_CHUNKS + 2,
        "limits": {"key_rpm": gateway_server.NEVER_RPM, "key_tpm": gateway_server.NEVER_TPM,
                   "key_monthly_budget_nano": gateway_server.NEVER_NANO,
                   "tier": "same RPM/TPM, output tokens per hour/day, monthly cap"},
    }
    rows = compare(results, variants)
    print_report(console, rows, facts)
    console.print(f"Took {facts['elapsed_s']:.0f} s.")
    if args.json:
        print_json("metering_cost", facts, rows)


if __name__ == "__main__":
    main()
