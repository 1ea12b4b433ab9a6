"""The prompt-injection guardrail: accuracy on data it never trained on, and the latency it adds.

    python -m bench.guardrail [--dev ../shared/data/guardrail-dev.jsonl] [--requests 300]

Accuracy: precision, recall, false-positive rate and balanced accuracy per language, on the held-out
split (whole templates of scripts/guardrail_data never trained on, whole sources of the machine's
prose, and one deepset row in five), the false-positive rate on the held-out benign business prompts,
and, as a probe of long real documents from no training source, how many of this repository's own
docs (README.md and docs/*.md, each read whole) are flagged. Latency: the guardrail worker is
started as `llmaas serve` starts it, and the screening call the gateway makes (one POST /v1/moderations
over loopback) is timed for a 200-token prompt and a 4,000-token document: that is the time screening
adds before admission.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from rich.console import Console
from rich.table import Table

from bench.common import machine, percentile
from llmaas.guardrails.classifier import Classifier
from scripts.train_guardrail import DEV, load_rows
from tests.servers import free_port

BUSINESS = {"task", "trap", "document", "code", "roleplay", "persona", "question"}
PROMPT_200 = ("Please draft a short note to the finance team about the Q3 budget review: list the three "
              "largest cost overruns, explain the causes in plain language, and propose one corrective "
              "action for each, with an owner and a deadline. ") * 4
DOCUMENT_4000 = "Revenue for the quarter reached 4.2 million euros, up 8 percent on last year. " * 230


def rates(labels: list[int], flagged: list[bool]) -> dict[str, float]:
    tp = sum(1 for y, f in zip(labels, flagged, strict=True) if y and f)
    fp = sum(1 for y, f in zip(labels, flagged, strict=True) if not y and f)
    positives = sum(labels)
    negatives = len(labels) - positives
    recall = tp / positives if positives else float("nan")
    fpr = fp / negatives if negatives else float("nan")
    return {
        "n": len(labels), "injections": positives, "benign": negatives,
        "precision": tp / (tp + fp) if tp + fp else float("nan"), "recall": recall, "fpr": fpr,
        "balanced_accuracy": (recall + 1 - fpr) / 2 if positives and negatives else float("nan"),
    }


ROOT = Path(__file__).resolve().parent.parent


def documents() -> list[dict[str, Any]]:
    """This repository's docs as benign rows: long, real, in no training source."""
    paths = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    return [{"text": path.read_text(encoding="utf-8"), "label": 0, "lang": "en", "kind": "docs",
             "source": "docs", "split": "holdout"} for path in paths]


def accuracy(dev: Path | None, threshold: float | None) -> dict[str, dict[str, float]]:
    classifier = Classifier.load()
    cut = classifier.threshold if threshold is None else threshold
    rows = [row for row in [*load_rows(dev), *documents()] if row["split"] == "holdout"]
    flagged = [score >= cut for score in classifier.score([row["text"] for row in rows])]
    groups: dict[str, list[int]] = {}
    for index, row in enumerate(rows):
        for name in ("all", f"{row['source']}", f"{row['source']}/{row['lang']}", f"all/{row['lang']}"):
            groups.setdefault(name, []).append(index)
        if row["source"] == "written" and row["label"] == 0 and row["kind"] in BUSINESS:
            groups.setdefault("business", []).append(index)
            groups.setdefault(f"business/{row['lang']}", []).append(index)
    return {name: rates([rows[i]["label"] for i in members], [flagged[i] for i in members])
            for name, members in sorted(groups.items())}


async def latency(requests: int) -> dict[str, dict[str, float]]:
    port = free_port()
    with tempfile.TemporaryDirectory() as empty:
        worker = subprocess.Popen([sys.executable, "-m", "llmaas.engines.workers.guardrail", "--model-dir",
                                   empty, "--model-id", "llmaas-prompt-guard", "--port", str(port)])
        try:
            url = f"http://127.0.0.1:{port}/v1/moderations"
            async with aiohttp.ClientSession() as session:
                for _ in range(100):
                    try:
                        async with session.get(f"http://127.0.0.1:{port}/health") as response:
                            if response.status == 200:
                                break
                    except aiohttp.ClientConnectionError:
                        await asyncio.sleep(0.1)
                out = {}
                sizes = (("prompt_200_tokens", PROMPT_200), ("document_4000_tokens", DOCUMENT_4000))
                for name, text in sizes:
                    body = orjson.dumps({"model": "llmaas-prompt-guard", "input": [text]})
                    times = []
                    for i in range(requests + 20):
                        started = time.perf_counter()
                        async with session.post(url, data=body,
                                                headers={"Content-Type": "application/json"}) as response:
                            await response.read()
                        if i >= 20:  # warm-up
                            times.append((time.perf_counter() - started) * 1000)
                    times.sort()
                    out[name] = {"p50_ms": percentile(times, 50), "p99_ms": percentile(times, 99),
                                 "chars": len(text)}
                return out
        finally:
            worker.terminate()
            worker.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dev", type=Path, default=DEV, help="the deepset development set (jsonl)")
    parser.add_argument("--threshold", type=float, default=None, help="default: the model's own")
    parser.add_argument("--requests", type=int, default=300, help="timed screening calls per size")
    parser.add_argument("--json", action="store_true", help="print the raw numbers as JSON on stdout")
    args = parser.parse_args()
    console = Console(stderr=True)
    results: dict[str, Any] = {"machine": machine(), "accuracy": accuracy(args.dev, args.threshold),
                               "latency": asyncio.run(latency(args.requests))}
    table = Table("held-out group", "n", "injections", "benign", "precision", "recall", "FP rate",
                  "balanced acc.")
    for name, r in results["accuracy"].items():
        table.add_row(name, *(str(r[k]) for k in ("n", "injections", "benign")),
                      *(f"{r[k]:.3f}" for k in ("precision", "recall", "fpr", "balanced_accuracy")))
    console.print(table)
    for name, r in results["latency"].items():
        console.print(f"{name} ({r['chars']} chars): p50 {r['p50_ms']:.2f} ms, p99 {r['p99_ms']:.2f} ms")
    if args.json:
        print(orjson.dumps(results, option=orjson.OPT_INDENT_2).decode())


if __name__ == "__main__":
    main()
