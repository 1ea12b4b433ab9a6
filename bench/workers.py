"""`llmaas serve --workers N` against one worker: req/s and tails, side by side.

    .venv/bin/python -m bench.workers                       1 worker vs 2, at concurrency 32 and 64
    .venv/bin/python -m bench.workers --workers 1,2,4 --json

Each side is a real `llmaas serve --no-embedded --workers N` (the gateway alone, no engine of its
own) with a temporary home (SQLite), the same throwaway Redis for limits and budgets (required by
more than one worker, and given to one worker too, so that only the number of processes differs)
and a key with RPM, TPM and a monthly budget too high to trip, in front of the fast fake engine.
CPU per request is that of the whole `llmaas serve` process tree. Nothing is pinned: N workers need
N cores, and the fake engine, Redis and this load generator share the same ones, so on a small
machine the scaling measured is a floor.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import uvloop
from rich.console import Console

from bench import fake_upstream
from bench.common import free_port, stop, wait_http
from bench.gateway_server import NEVER_NANO, NEVER_RPM, NEVER_TPM
from bench.harness import (
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
    warm_up,
)
from bench.litellm_compare import ProcessTreeTarget
from bench.load import Phase, Scenario
from bench.metering_cost import redis_server
from llmaas.auth import KeyLimits, KeyService
from llmaas.storage.database import create_database_engine

MODEL = fake_upstream.MODEL
CATALOG = """
[[models]]
id = "{model}"
family = "bench"
owned_by = "bench"
capabilities = ["chat", "completions"]
context_length = 8192
max_output_tokens = 4096
license = "MIT"
pricing = {{ input_per_million_tokens = 0.10, output_per_million_tokens = 0.40 }}
upstreams = [{{ url = "{url}/v1" }}]
"""


@contextmanager
def served(workers: int, engine_url: str, redis_url: str, workdir: Path) -> Iterator[Target]:
    """`llmaas serve --workers N` ready, with a key; stopped (SIGTERM, drained) on exit."""
    home = workdir / f"workers-{workers}"
    home.mkdir()
    catalog = home / "catalog.toml"
    catalog.write_text(CATALOG.format(model=MODEL, url=engine_url))
    port = free_port()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("LLMAAS_")},
           "LLMAAS_HOME": str(home), "LLMAAS_REDIS_URL": redis_url, "LLMAAS_LOG_LEVEL": "WARNING"}
    log = home / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "llmaas", "serve", "--no-embedded", "--catalog", str(catalog),
             "--port", str(port), "--workers", str(workers)], env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        try:
            wait_http(f"{url}/ready", timeout_s=120, alive=lambda: process.poll() is None,
                      what=f"llmaas serve --workers {workers}")
        except RuntimeError as error:
            raise RuntimeError(f"{error}\n{log.read_text()[-3000:]}") from None
        database = create_database_engine(f"sqlite:///{home / 'llmaas.db'}")
        key = KeyService(database).create(name="bench", limits=KeyLimits(
            requests_per_minute=NEVER_RPM, tokens_per_minute=NEVER_TPM, monthly_budget_nano=NEVER_NANO))
        database.dispose()
        name = f"{workers}-worker" + ("s" if workers > 1 else "")
        yield ProcessTreeTarget(name, f"{url}/v1/chat/completions",
                                {"Authorization": f"Bearer {key.secret}"}, {"proxy": process.pid})
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


@contextmanager
def running_stack(counts: list[int]) -> Iterator[dict[int, Target]]:
    ctx = multiprocessing.get_context("spawn")
    processes: list[BaseProcess] = []
    with ExitStack() as services, tempfile.TemporaryDirectory(prefix="llmaas-bench-workers-") as tmp:
        try:
            engine_url, _ = fake_upstream.start(ctx, processes, None)
            redis_url, _ = services.enter_context(redis_server(None))
            yield {n: services.enter_context(served(n, engine_url, redis_url, Path(tmp))) for n in counts}
        finally:
            services.close()
            stop(processes)


def compare(results: dict[Scenario, dict[int, list[Phase]]], counts: list[int]) -> list[dict[str, Any]]:
    rows = []
    for scenario, by_count in results.items():
        row: dict[str, Any] = {"stream": scenario.stream, "concurrency": scenario.concurrency}
        for n in counts:
            row[str(n)] = summarize(by_count[n])
            pairs = zip(by_count[counts[0]], by_count[n], strict=True)
            row[str(n)]["rps_ratio_per_round"] = [round(p.rps / b.rps, 3) for b, p in pairs if b.rps]
        rows.append(row)
    return rows


def print_report(console: Console, rows: list[dict[str, Any]], counts: list[int],
                 facts: dict[str, Any]) -> None:
    grid = table(f"llmaas serve --workers N, req/s against {counts[0]} worker(s), per round",
                 ("scenario", "workers", "req/s", "p50", "p90", "p99", "CPU µs/req (serve tree)",
                  "req/s ratio per round"), left=("scenario", "workers"))
    for row in rows:
        for n in counts:
            s = row[str(n)]
            cpu = s["cpu_us_per_request"].get("proxy")
            grid.add_row(label(row), str(n), f"{s['rps']:.0f}", f"{s['p50_ms']:.2f}", f"{s['p90_ms']:.2f}",
                         f"{s['p99_ms']:.2f}", "" if cpu is None else f"{cpu:.0f}",
                         " ".join(f"{r:.2f}" for r in s["rps_ratio_per_round"]))
        grid.add_section()
    console.print(grid)
    console.print(f"{machine_text(facts)}, {facts['loadavg_end']:.2f} at the end; nothing pinned. "
                  f"{facts['machine']['date']}.")
    for row in rows:
        for n in counts:
            print_errors(console, f"{n} workers", row[str(n)])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.workers", description=__doc__.split("\n")[0])
    add_load_arguments(parser, rounds=3, rounds_help="Alternating rounds.", concurrency="32,64",
                       stream="no", concurrent_requests=6000, max_phase_s=15.0, pin="no",
                       pin_help="Keep it: no.")
    parser.add_argument("--workers", default="1,2",
                        help="Comma-separated worker counts; the first is the base.")
    args = parser.parse_args(argv)
    counts = [int(n) for n in args.workers.split(",")]
    console = report_console(args.json)
    options, _, facts = prepare(args)
    with running_stack(counts) as targets:
        uvloop.run(warm_up(targets, options.scenarios))
        results = uvloop.run(alternate(targets, options, console))
    facts["loadavg_end"] = os.getloadavg()[0]
    rows = compare(results, counts)
    print_report(console, rows, counts, facts)
    if args.json:
        print_json("workers", facts, rows)


if __name__ == "__main__":
    main()
