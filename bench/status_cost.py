"""What the status page's counting costs a request, beside what each streamed request already pays.

    .venv/bin/python -m bench.status_cost             a table of ns per call and ratios (a few seconds)
    .venv/bin/python -m bench.status_cost --json      the same numbers as JSON on stdout

Side by side in one process, each call repeated and the best of several rounds kept (a neighbour's
load only slows a round down): `MinuteRecorder.streamed` (what the relay adds at the end of each
stream), against the two things every stream already did before it, the usage ledger's `record` and
the Prometheus time-to-first-token `observe`; then `probed` for a 10-model catalog (once per health
round, not per request) and the minute's write of 10 models on SQLite, off the event loop.

Target: counting a stream costs no more than the Prometheus observation each stream already makes,
a microsecond or so against the milliseconds of a stream; nothing of it waits on the database.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
import timeit
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from llmaas.metering.ledger import Ledger, UsageRecord
from llmaas.observability.metrics import Metrics
from llmaas.status import MinuteRecorder
from llmaas.storage.database import create_database_engine, migrate

CALLS = 20_000
ROUNDS = 7


def best_ns(call: Callable[[], object]) -> float:
    return min(timeit.repeat(call, number=CALLS, repeat=ROUNDS)) / CALLS * 1e9


def measure() -> dict[str, float]:
    with tempfile.TemporaryDirectory() as home:
        database = create_database_engine(f"sqlite:///{Path(home) / 'bench.db'}")
        migrate(database)
        now = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
        recorder = MinuteRecorder(database)  # the real clock, time.time, as the gateway runs it
        ledger = Ledger(database)
        first_token = Metrics().first_token.labels("chat")
        record = UsageRecord(created_at=now, request_id="req_1", tenant_id=1, key_id=1, endpoint="chat",
                             model_requested="chat", model_served="chat", status=200, output_tokens=40)
        readiness = {f"model-{n}": n % 3 != 0 for n in range(10)}
        results = {
            "streamed_ns": best_ns(lambda: recorder.streamed(
                "chat", first_token_s=0.18, decode_tokens=39, decode_s=0.9)),
            "ledger_record_ns": best_ns(lambda: ledger.record(record)),
            "ttft_observe_ns": best_ns(lambda: first_token.observe(0.18)),
            "probed_10_models_ns": best_ns(lambda: recorder.probed(readiness)),
        }
        clock = [now.timestamp()]
        writer = MinuteRecorder(database, clock=lambda: clock[0])
        for model in readiness:
            writer.probed(readiness)
            writer.streamed(model, first_token_s=0.2, decode_tokens=10, decode_s=0.5)
        clock[0] += 60
        started = time.perf_counter()
        asyncio.run(writer.flush())
        results["minute_write_10_models_ms"] = (time.perf_counter() - started) * 1000
        database.dispose()
    results["streamed_vs_ledger_record"] = results["streamed_ns"] / results["ledger_record_ns"]
    results["streamed_vs_ttft_observe"] = results["streamed_ns"] / results["ttft_observe_ns"]
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="numbers as JSON on stdout, the table on stderr")
    arguments = parser.parse_args()
    results = measure()
    table = sys.stderr if arguments.json else sys.stdout
    for name, value in results.items():
        print(f"{name:32} {value:10.2f}", file=table)
    if arguments.json:
        print(json.dumps(results))


if __name__ == "__main__":
    main()
