"""The llmaas gateway against LiteLLM's proxy, side by side, in front of the same fast fake engine.

    .venv/bin/python -m bench.litellm_compare [--litellm /tmp/litellm-venv/bin/litellm] [--json]
    .venv/bin/python -m bench.litellm_compare --production    both as several replicas would run

LiteLLM is never a dependency of this project: install its proxy into a virtualenv of its own,

    python3 -m venv /tmp/litellm-venv && /tmp/litellm-venv/bin/pip install 'litellm[proxy]'

and point `--litellm` at its `litellm` command. Four processes: the fake engine
(bench/fake_upstream.py), the llmaas gateway as production builds it (bench/gateway_server.py) with
auth, limits and metering on (a key with RPM, TPM and a monthly budget on a tiered tenant, all too
high to trip, the in-process meter and the ledger), LiteLLM's proxy (one model, `openai/` provider
at the fake's URL, a master key, one uvicorn worker, no database: LiteLLM's virtual keys, budgets
and spend logs need PostgreSQL, so its auth here is the master key only and it meters nothing
durable), and this process, the load generator. With two CPUs both proxies are pinned to one and
the load generator and the fake share the other, so req/s is req/s per core of proxy; the proxies'
phases alternate, the order flipping every round.

`--production`: both as their documentation has several instances share limits. llmaas keeps keys
and usage in a throwaway PostgreSQL and limits and budgets in a throwaway Redis; LiteLLM's router
tracks its deployments' rpm/tpm in a Redis of its own (`router_settings`), with rpm and tpm limits on
the model, too high to trip. LiteLLM's per-key limits and budgets need its PostgreSQL database
through Prisma, whose query engine Prisma downloads at `prisma generate` time, not from a package
registry: not run here (docs/benchmarks.md, section 13).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import redis
import uvloop
from rich.console import Console

from bench import fake_upstream, gateway_server
from bench.common import cpu_seconds, free_port, stop, wait_http
from bench.harness import (
    Options,
    Placement,
    Target,
    add_load_arguments,
    alternate,
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
from bench.metering_cost import redis_server

MODEL = fake_upstream.MODEL
TARGETS = ("direct", "llmaas", "litellm")
PROXIES = ("llmaas", "litellm")
MASTER_KEY = "sk-bench-master-key"
TARGET_RPS_RATIO = 20.0  # llmaas req/s per core ≥ 20× LiteLLM's
TARGET_ADDED_P50_MS = 0.5  # at c=1, llmaas over direct
TARGET_P99_MS_C64 = 5.0  # issue 4's p99 target at c=64 (this benchmark runs c=32; see the docs)

LITELLM_CONFIG = """\
model_list:
  - model_name: {model}
    litellm_params:
      model: openai/{model}
      api_base: {api_base}
      api_key: sk-fake
general_settings:
  master_key: {master_key}
litellm_settings:
  telemetry: false
  drop_params: true
"""
# Several instances: the router counts each deployment's rpm and tpm in Redis, shared by all of them.
LITELLM_SHARED_LIMITS = """\
router_settings:
  routing_strategy: usage-based-routing-v2
  redis_host: 127.0.0.1
  redis_port: {redis_port}
"""
LITELLM_MODEL_LIMITS = "      rpm: 100000000\n      tpm: 100000000000\n"


def tree_cpu_seconds(pid: int) -> float:
    """CPU time of a process and all its descendants (LiteLLM's CLI may fork its server)."""
    total = cpu_seconds(pid)
    for children in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            kids = [int(x) for x in children.read_text().split()]
        except (OSError, ValueError):
            continue
        total += sum(tree_cpu_seconds(kid) for kid in kids)
    return total


@dataclass(frozen=True)
class ProcessTreeTarget(Target):
    """A target whose "proxy" CPU is that of its whole process tree, in case LiteLLM's CLI forked."""

    async def phase(self, scenario: Scenario, *, warmup: int, requests: int, max_s: float,
                    measured: bool = True) -> Phase:
        before = tree_cpu_seconds(self.pids["proxy"]) if measured else 0.0
        phase = await super().phase(scenario, warmup=warmup, requests=requests, max_s=max_s,
                                    measured=measured)
        if measured:
            phase.cpu_s["proxy"] = tree_cpu_seconds(self.pids["proxy"]) - before
        return phase


@dataclass
class Stack:
    targets: dict[str, Target]  # TARGETS, each proxy's process as "proxy"
    litellm_redis: str | None = None  # --production: where LiteLLM's router counts


@contextmanager
def running_stack(where: Placement, litellm: str, console: Console, *,
                  production: bool = False) -> Iterator[Stack]:
    ctx = multiprocessing.get_context("spawn")
    processes: list[BaseProcess] = []
    proxy: subprocess.Popen[bytes] | None = None
    workdir = Path(tempfile.mkdtemp(prefix="llmaas-bench-litellm-"))
    services = ExitStack()
    try:
        litellm_port = free_port()
        engine_url, engine = fake_upstream.start(ctx, processes, where.upstream)
        metering = gateway_server.Metering(limits=True)
        litellm_redis: str | None = None
        options: dict[str, Any] = {}
        config_text = LITELLM_CONFIG.format(model=MODEL, api_base=f"{engine_url}/v1", master_key=MASTER_KEY)
        if production:
            from tests.databases import postgres_server  # its throwaway server, as the tests'

            redis_url, _ = services.enter_context(redis_server(where.upstream))
            metering = gateway_server.Metering(limits=True, redis_url=redis_url)
            options["database_url"] = services.enter_context(postgres_server())
            litellm_redis, _ = services.enter_context(redis_server(where.upstream))
            config_text = config_text.replace("      api_key: sk-fake\n",
                                              "      api_key: sk-fake\n" + LITELLM_MODEL_LIMITS)
            port = litellm_redis.rsplit(":", 1)[1].split("/")[0]
            config_text += LITELLM_SHARED_LIMITS.format(redis_port=port)
        gateway = gateway_server.start(ctx, processes, name="gateway", model_id=MODEL,
                                       upstream_url=f"{engine_url}/v1", cpu=where.gateway,
                                       metering=metering, **options)

        config = workdir / "litellm.yaml"
        config.write_text(config_text)
        env = {**os.environ, "LITELLM_LOG": "ERROR", "LITELLM_LOCAL_MODEL_COST_MAP": "True",
               "LITELLM_TELEMETRY": "False", "DISABLE_ADMIN_UI": "True"}
        env.pop("DATABASE_URL", None)
        cpu = where.gateway
        log = (workdir / "litellm.log").open("wb")
        proxy = subprocess.Popen(
            [litellm, "--config", str(config), "--host", "127.0.0.1", "--port", str(litellm_port),
             "--num_workers", "1"],
            cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT,
            preexec_fn=(lambda: os.sched_setaffinity(0, {cpu})) if cpu is not None else None,
        )
        litellm_url = f"http://127.0.0.1:{litellm_port}"
        try:
            wait_http(f"{litellm_url}/health/liveliness", timeout_s=120,
                      alive=lambda: proxy is not None and proxy.poll() is None, what="LiteLLM proxy")
        except RuntimeError:
            console.print((workdir / "litellm.log").read_text()[-3000:])
            raise
        assert gateway.process.pid is not None and engine.pid is not None
        yield Stack({
            "direct": Target("direct", f"{engine_url}/v1/chat/completions", {}),
            "llmaas": Target("llmaas", f"{gateway.url}/v1/chat/completions",
                             {"Authorization": f"Bearer {gateway.key}"}, {"proxy": gateway.process.pid}),
            "litellm": ProcessTreeTarget("litellm", f"{litellm_url}/v1/chat/completions",
                                         {"Authorization": f"Bearer {MASTER_KEY}"}, {"proxy": proxy.pid}),
        }, litellm_redis)
    finally:
        if proxy is not None:
            proxy.terminate()
            try:
                proxy.wait(15)
            except subprocess.TimeoutExpired:
                proxy.kill()
                proxy.wait(5)
        stop(processes)
        services.close()
        subprocess.run(["rm", "-rf", str(workdir)], check=False)


async def measure(stack: Stack, options: Options, console: Console) -> dict[Scenario, dict[str, list[Phase]]]:
    await warm_up(stack.targets, options.scenarios, requests=100, max_s=15)  # every path
    return await alternate(stack.targets, options, console)


def compare(results: dict[Scenario, dict[str, list[Phase]]]) -> list[dict[str, Any]]:
    rows = []
    for scenario, by_target in results.items():
        s = {t: summarize(by_target[t]) for t in TARGETS}
        per_round = [a.rps / b.rps for a, b in zip(by_target["llmaas"], by_target["litellm"], strict=True)
                     if b.rps]
        cpu = {t: s[t]["cpu_us_per_request"].get("proxy") for t in PROXIES}
        litellm_rps = s["litellm"]["rps"]
        rows.append({
            "stream": scenario.stream,
            "concurrency": scenario.concurrency,
            **s,
            "rps_ratio_llmaas_litellm": s["llmaas"]["rps"] / litellm_rps if litellm_rps else None,
            "rps_ratio_per_round": [round(r, 2) for r in per_round],
            "added_p50_ms": {t: s[t]["p50_ms"] - s["direct"]["p50_ms"] for t in PROXIES},
            "proxy_cpu_us_per_request": cpu,
            "cpu_ratio_litellm_llmaas": (cpu["litellm"] / cpu["llmaas"]
                                         if cpu["llmaas"] and cpu["litellm"] else None),
        })
    return rows


def print_report(console: Console, rows: list[dict[str, Any]], facts: dict[str, Any]) -> None:
    latency = table("Direct, llmaas and LiteLLM in front of the same fake engine (ms; full answer)",
                    ("scenario", "target", "requests", "errors", "req/s", "p50", "p90", "p99",
                     "proxy CPU µs/req"), left=("scenario", "target"))
    for row in rows:
        label = f"non-stream c={row['concurrency']}"
        for target in TARGETS:
            s = row[target]
            latency.add_row(label, target, str(s["requests"]), str(s["errors"]), f"{s['rps']:.0f}",
                            f"{s['p50_ms']:.2f}", f"{s['p90_ms']:.2f}", f"{s['p99_ms']:.2f}",
                            us(s["cpu_us_per_request"].get("proxy")))
        latency.add_section()
    console.print(latency)
    ratios = table("llmaas vs LiteLLM (measured side by side, each proxy on one core)",
                   ("scenario", "req/s llmaas/LiteLLM", "per round", "added p50 llmaas", "added p50 LiteLLM",
                    "CPU/req LiteLLM/llmaas"), left=("scenario",))
    for row in rows:
        ratio = row["cpu_ratio_litellm_llmaas"]
        ratios.add_row(f"non-stream c={row['concurrency']}", f"{row['rps_ratio_llmaas_litellm']:.1f}",
                       " ".join(f"{r:.1f}" for r in row["rps_ratio_per_round"]),
                       f"{row['added_p50_ms']['llmaas']:+.2f}", f"{row['added_p50_ms']['litellm']:+.2f}",
                       "" if ratio is None else f"{ratio:.1f}")
    console.print(ratios)
    console.print(f"Targets (issue 4): llmaas ≥ {TARGET_RPS_RATIO:g}× LiteLLM's req/s per core; "
                  f"≤ {TARGET_ADDED_P50_MS:g} ms p50 added at c=1; ≤ {TARGET_P99_MS_C64:g} ms p99 at c=64.")
    console.print(f"{machine_text(facts)}; {facts['placement']}; "
                  f"LiteLLM {facts.get('litellm_version', '?')}. {facts['machine']['date']}.")
    for row in rows:
        for target in TARGETS:
            print_errors(console, target, row[target])


def litellm_version(litellm: str) -> str:
    python = Path(litellm).with_name("python")
    done = subprocess.run([str(python), "-c", "import importlib.metadata as m; print(m.version('litellm'))"],
                          capture_output=True, text=True, check=False)
    return done.stdout.strip() or "unknown"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.litellm_compare",
        description="llmaas vs LiteLLM's proxy in front of the same fake engine.",
    )
    parser.add_argument("--litellm", default="/tmp/litellm-venv/bin/litellm",
                        help="LiteLLM's `litellm` command, from a virtualenv of its own.")
    add_load_arguments(parser, rounds=3, rounds_help="Alternating rounds.", concurrency="1,32",
                       stream=None, serial_requests=500, concurrent_requests=2000, max_phase_s=6.0,
                       pin="yes", pin_help="Pin each proxy to a core of its own "
                                           "(default yes: the comparison is per core).")
    parser.add_argument("--production", action="store_true",
                        help="llmaas on PostgreSQL + Redis, LiteLLM's router limits in Redis.")
    args = parser.parse_args(argv)
    console = report_console(args.json)
    if not Path(args.litellm).exists():
        console.print(f"[red]LiteLLM not found at {args.litellm}[/red]; "
                      "install it into a virtualenv of its own.")
        raise SystemExit(2)
    options, where, facts = prepare(args)
    facts["litellm_version"] = litellm_version(args.litellm)
    with running_stack(where, args.litellm, console, production=args.production) as stack:
        results = uvloop.run(measure(stack, options, console))
        if stack.litellm_redis is not None:  # proof that LiteLLM's router did count in Redis
            with redis.Redis.from_url(stack.litellm_redis) as client:
                facts["litellm_redis_keys"] = sorted(key.decode()[:60] for key in client.keys("*"))[:10]
            console.print(f"LiteLLM's Redis holds: {facts['litellm_redis_keys']}")
    rows = compare(results)
    facts["config"] = {"rounds": options.rounds, "serial_requests": options.serial_requests,
                       "concurrent_requests": options.concurrent_requests, "max_phase_s": options.max_phase_s,
                       "llmaas": "auth + limits (key and tier) + in-process meter + ledger",
                       "litellm": "master key only, no database, one uvicorn worker"}
    if args.production:
        facts["config"] |= {"llmaas": "auth + limits (key and tier) + budget, PostgreSQL + Redis",
                            "litellm": "master key, model rpm/tpm counted in Redis by its router, "
                                       "no database, one uvicorn worker"}
    print_report(console, rows, facts)
    if args.json:
        print_json("litellm_compare", facts, rows)


if __name__ == "__main__":
    main()
