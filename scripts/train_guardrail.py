"""Train the prompt-injection classifier and write the packaged model: `python -m scripts.train_guardrail`.

Data (licences in scripts/guardrail_data/README.md):
- ../shared/data/guardrail-dev.jsonl (deepset/prompt-injections, Apache-2.0), or --dev PATH;
  80 % trains, 20 % (chosen by a hash of the text) is held out;
- scripts/guardrail_data/written.jsonl (this repository's own, see compose.py); its `split` field
  holds out whole templates.

The model is a logistic regression over `classifier.features`, fitted by full-batch Adam on the
sparse rows with class-balanced weights and an L2 penalty; numpy only, about half a minute on one core.
It writes src/llmaas/guardrails/model/prompt-guard.npz and prints the sha256 to pin in classifier.py.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from llmaas.guardrails.classifier import BUCKETS, MODEL_FILE, features, normalise

ROOT = Path(__file__).resolve().parent.parent
WRITTEN = ROOT / "scripts" / "guardrail_data" / "written.jsonl"
DEV = ROOT.parent.parent / "shared" / "data" / "guardrail-dev.jsonl"
MODEL = ROOT / "src" / "llmaas" / "guardrails" / "model" / MODEL_FILE


def dev_split(text: str) -> str:
    return "holdout" if int(hashlib.sha256(text.encode()).hexdigest()[:8], 16) % 5 == 0 else "train"


def load_rows(dev: Path | None) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in WRITTEN.read_text(encoding="utf-8").splitlines()]
    for row in rows:
        row["source"] = "written"
    if dev is not None and dev.is_file():
        for line in dev.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            rows.append({**row, "lang": row.get("lang") or "other", "kind": "dev", "source": "dev",
                         "split": dev_split(row["text"])})
    return rows


def matrix(texts: list[str]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """CSR rows: indptr, indices, values."""
    indptr = [0]
    indices, values = [], []
    for text in texts:
        index, value = features(normalise(text))
        indices.append(index)
        values.append(value)
        indptr.append(indptr[-1] + len(index))
    return np.array(indptr), np.concatenate(indices), np.concatenate(values)


def fit(texts: list[str], labels: npt.NDArray[np.float32], *, l2: float, steps: int,
        rate: float = 0.05) -> tuple[npt.NDArray[np.float32], float]:
    indptr, indices, values = matrix(texts)
    rows = np.repeat(np.arange(len(texts)), np.diff(indptr))
    positive = labels.mean()
    sample = np.where(labels == 1, 0.5 / positive, 0.5 / (1 - positive)).astype(np.float32)
    sample /= sample.sum()
    w = np.zeros(BUCKETS + 1, np.float32)  # the last one is the bias
    m = np.zeros_like(w)
    v = np.zeros_like(w)
    for step in range(1, steps + 1):
        logits = np.bincount(rows, values * w[indices], minlength=len(texts)) + w[-1]
        p = 1.0 / (1.0 + np.exp(-logits))
        residual = (p - labels) * sample
        grad = np.zeros_like(w)
        grad[:-1] = np.bincount(indices, values * residual[rows], minlength=BUCKETS) + l2 * w[:-1]
        grad[-1] = residual.sum()
        m = 0.9 * m + 0.1 * grad
        v = 0.999 * v + 0.001 * grad * grad
        w -= rate * (m / (1 - 0.9**step)) / (np.sqrt(v / (1 - 0.999**step)) + 1e-8)
    return w[:-1].copy(), float(w[-1])


def save(weights: npt.NDArray[np.float32], bias: float, threshold: float) -> str:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, weights=weights.astype(np.float16), bias=np.float32(bias),
                        threshold=np.float32(threshold))
    MODEL.parent.mkdir(parents=True, exist_ok=True)
    MODEL.write_bytes(buffer.getvalue())
    return hashlib.sha256(buffer.getvalue()).hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dev", type=Path, default=DEV, help="the deepset development set (jsonl)")
    parser.add_argument("--l2", type=float, default=1e-5)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--threshold", type=float, default=0.5)
    args = parser.parse_args()
    rows = [row for row in load_rows(args.dev) if row["split"] == "train"]
    labels = np.array([row["label"] for row in rows], np.float32)
    weights, bias = fit([row["text"] for row in rows], labels, l2=args.l2, steps=args.steps)
    digest = save(weights, bias, args.threshold)
    print(f"trained on {len(rows)} rows ({int(labels.sum())} injections); wrote {MODEL}")
    print(f"{MODEL.stat().st_size / 1024:.0f} KiB, sha256 {digest}")


if __name__ == "__main__":
    main()
