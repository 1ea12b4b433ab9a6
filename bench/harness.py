"""What the benchmarks share: load options, process placement, the measuring rounds, summaries,
the report's common pieces and the main tail (a console, the JSON on stdout).

A load benchmark names its sides as `Target`s and hands them to `warm_up` and `alternate`:

    options, where, facts = prepare(args)
    targets = {"direct": Target("direct", url, {}, pids), "gateway": Target("gateway", ...)}
    await warm_up(targets, options.scenarios)
    results = await alternate(targets, options, console)
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from collections.abc import Collection, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import orjson
from rich.console import Console
from rich.table import Table

from bench.common import cpus, machine, percentile, pin
from bench.load import Phase, Scenario, Stalls, run_phase

K = TypeVar("K", bound=Hashable)


# -- options --------------------------------------------------------------------------------------


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


# -- placement ------------------------------------------------------------------------------------


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


def prepare(args: argparse.Namespace) -> tuple[Options, Placement, dict[str, Any]]:
    """The load options, where each process runs (this one, the load generator, is pinned now) and
    the facts every report starts with."""
    where = placement(args.pin)
    facts: dict[str, Any] = {"machine": machine(), "placement": where.describe()}
    pin(where.client)
    return load_options(args), where, facts


# -- measuring ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """One side of a comparison: where its requests go, and the processes whose CPU they cost."""

    name: str
    url: str
    headers: dict[str, str]
    pids: dict[str, int] = field(default_factory=dict)
    metrics_url: str | None = None  # a gateway's /metrics: its loop lag and gc pauses, per phase

    async def phase(self, scenario: Scenario, *, warmup: int, requests: int, max_s: float,
                    measured: bool = True) -> Phase:
        """One phase; a measured one reads the CPU time of `pids` (and the stalls `metrics_url`
        reports) around its measured requests."""
        return await run_phase(self.name, self.url, self.headers, scenario, warmup=warmup,
                               requests=requests, max_s=max_s, pids=self.pids if measured else None,
                               metrics_url=self.metrics_url if measured else None)


async def warm_up(targets: Mapping[K, Target], scenarios: Sequence[Scenario], *, requests: int = 200,
                  max_s: float = 20.0, strict: bool = False) -> dict[K, int]:
    """Untimed: first requests pay for imports, pydantic schema caches, the key lookup. Returns the
    requests sent per target; `strict` raises on the first failed phase."""
    sent = dict.fromkeys(targets, 0)
    for scenario in scenarios:
        for key, target in targets.items():
            phase = await target.phase(scenario, warmup=0, requests=requests, max_s=max_s, measured=False)
            sent[key] += phase.sent
            if strict and phase.errors:
                raise RuntimeError(f"{target.name} failed while warming up: {dict(phase.errors)}")
    return sent


async def alternate(
    targets: Mapping[K, Target], options: Options, console: Console, *, rotate: bool = False
) -> dict[Scenario, dict[K, list[Phase]]]:
    """Every round, every scenario, one measured phase per target. The targets' order flips every
    round (or with `rotate`, turns by one), so drift on a noisy machine hits all of them alike."""
    keys = list(targets)
    width = max(len(target.name) for target in targets.values())
    results: dict[Scenario, dict[K, list[Phase]]] = {s: {k: [] for k in keys} for s in options.scenarios}
    for round_index in range(options.rounds):
        if rotate:
            shift = round_index % len(keys)
            order = keys[shift:] + keys[:shift]
        else:
            order = keys if round_index % 2 == 0 else keys[::-1]
        for scenario in options.scenarios:
            warmup, measured = requests_for(options, scenario)
            for key in order:
                target = targets[key]
                phase = await target.phase(scenario, warmup=warmup, requests=measured,
                                           max_s=options.max_phase_s)
                results[scenario][key].append(phase)
                console.log(f"round {round_index + 1}/{options.rounds} {scenario.label:18} "
                            f"{target.name:{width}} {phase.rps:8.0f} req/s  "
                            f"p50 {ms(phase.latencies, 50):6.2f} ms"
                            + (f"  errors {sum(phase.errors.values())}" if phase.errors else ""))
    return results


# -- summaries and report pieces ------------------------------------------------------------------


def us(value: float | None) -> str:
    """Microseconds, whole; blank when unknown."""
    return "" if value is None else f"{value:.0f}"


def ms(values: list[float], q: float) -> float:
    """The q-th percentile of latencies in seconds, in milliseconds."""
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
        "p50_ms_per_round": [round(ms(p.latencies, 50), 3) for p in phases],
        "cpu_us_per_request": {
            name: seconds / len(latencies) * 1e6 if latencies else None for name, seconds in cpu.items()
        },
        "stalls": summarize_stalls([p.stalls for p in phases if p.stalls is not None]),
    }


def summarize_stalls(phases: list[Stalls]) -> dict[str, Any] | None:
    """The gateway's loop lag and gc pauses over all `phases` (None when it was not read)."""
    if not phases:
        return None
    total = Stalls(lag_buckets=sum_by_key(s.lag_buckets for s in phases),
                   gc_count=sum_by_key(s.gc_count for s in phases),
                   gc_seconds=sum_by_key(s.gc_seconds for s in phases))
    bound = total.max_lag_bound_s
    return {
        "lag_samples": total.samples,
        "lag_over_5ms": total.lagging(0.005),
        "lag_over_20ms": total.lagging(0.02),
        "max_lag_at_most_ms": None if bound is None else bound * 1000,
        "gc_collections": {g: int(n) for g, n in sorted(total.gc_count.items())},
        "gc_pause_ms": {g: round(s * 1000, 1) for g, s in sorted(total.gc_seconds.items())},
    }


def sum_by_key(counts: Iterable[Mapping[K, float]]) -> dict[K, float]:
    total: dict[K, float] = {}
    for count in counts:
        for key, value in count.items():
            total[key] = total.get(key, 0.0) + value
    return total


def stalls_text(summary: Mapping[str, Any] | None) -> str:
    """`3/120 ≤20 · 0/0`: lag samples over 5 ms / all, the largest lag's bucket (ms), full
    collections / their total pause (ms). A table cell."""
    if summary is None:
        return ""
    bound = summary["max_lag_at_most_ms"]
    return (f"{summary['lag_over_5ms']}/{summary['lag_samples']} ≤{'?' if bound is None else f'{bound:g}'}"
            f" · {summary['gc_collections'].get('2', 0)}/{summary['gc_pause_ms'].get('2', 0):g}")


def label(row: Mapping[str, Any]) -> str:
    """A result row's scenario, as the tables name it: "stream c=64"."""
    return Scenario(row["stream"], row["concurrency"]).label


def table(title: str, columns: Sequence[str], *, left: Collection[str] = ()) -> Table:
    """A report table: the `left` columns are text, the others numbers, aligned right."""
    result = Table(title=title)
    for column in columns:
        result.add_column(column, justify="left" if column in left else "right")
    return result


def verdict(met: bool, target: str) -> str:
    return f"[green]met[/green] ({target})" if met else f"[red]missed[/red] ({target})"


def machine_text(facts: Mapping[str, Any]) -> str:
    m = facts["machine"]
    return f"Machine: {m['nproc']} CPUs, {m['cpu_model']}, load {m['loadavg_1m']:.2f} at start"


def print_errors(console: Console, name: str, summary: Mapping[str, Any]) -> None:
    if summary["errors"]:
        console.print(f"[red]{name} errors:[/red] {summary['error_kinds']}")


# -- main -----------------------------------------------------------------------------------------


def report_console(as_json: bool, *, width: int = 140) -> Console:
    """Where the tables go: stdout, or stderr when stdout carries the JSON."""
    return Console(stderr=as_json, width=None if sys.stderr.isatty() else width)


def print_json(benchmark: str, facts: Mapping[str, Any], results: Any) -> None:
    print(orjson.dumps({"benchmark": benchmark, **facts, "results": results},
                       option=orjson.OPT_INDENT_2).decode())
