"""The guardrail worker: OpenAI's ``/v1/moderations`` with one category, ``prompt_injection``.

    python -m llmaas.engines.workers.guardrail --model-dir DIR --model-id ID --port 8302

It serves the classifier of `llmaas.guardrails.classifier` (the packaged, sha256-pinned model, or
``DIR/prompt-guard.npz`` when the operator put their own there). Scoring a 200-token prompt takes
about a millisecond and a 20,000-token document a few dozen, which is why it runs here, off the
gateway's event loop, and is reached over HTTP like every engine. ``flagged`` uses the model's own
threshold, or ``--threshold`` (`llmaas serve` passes the operator's `guardrail_threshold`); the
gateway's screening reads ``flagged``, so both answer alike.
``usage.prompt_tokens`` is an estimate (words and punctuation), which is what moderation is billed on.
Nothing of the content is logged.
"""

from __future__ import annotations

import argparse
import logging
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.routing import Route

from llmaas.engines.workers import common
from llmaas.engines.workers.embeddings import json_body
from llmaas.guardrails.classifier import MODEL_FILE, Classifier
from llmaas.wire.requests import MAX_INPUTS

__all__ = ["CATEGORY", "create_app", "estimate_tokens", "main", "parse_inputs"]

logger = logging.getLogger("llmaas.engines.guardrail")
CATEGORY = "prompt_injection"
_TOKEN = re.compile(r"\w+|[^\w\s]")


def estimate_tokens(text: str) -> int:
    return len(_TOKEN.findall(text))


def parse_inputs(body: Any) -> list[str]:
    """OpenAI's moderation ``input``: a string or an array of strings (images are not read)."""
    if not isinstance(body, dict) or "input" not in body:
        raise common.WorkerError("You must provide an input.", param="input")
    raw = body["input"]
    inputs = [raw] if isinstance(raw, str) else raw
    if not isinstance(inputs, list) or not inputs or len(inputs) > MAX_INPUTS:
        raise common.WorkerError(
            f"input must be a string or an array of 1 to {MAX_INPUTS} strings.", param="input")
    if not all(isinstance(item, str) for item in inputs):
        raise common.WorkerError("This model reads text only: each input must be a string.", param="input")
    return inputs


def create_app(model_dir: Path, model_id: str, threshold: float | None = None) -> Starlette:
    loaded: list[Classifier] = []

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        own = model_dir / MODEL_FILE
        loaded.append(Classifier.load(own if own.is_file() else None))
        logger.info("loaded %s", model_id)
        yield

    async def moderations(request: Request) -> common.JSONResponse:
        classifier = loaded[0]
        cut = classifier.threshold if threshold is None else threshold
        inputs = parse_inputs(await json_body(request))
        scores = await run_in_threadpool(classifier.score, inputs)
        return common.JSONResponse({
            "id": f"modr-{uuid.uuid4().hex}",
            "model": model_id,
            "results": [{
                "flagged": score >= cut,
                "categories": {CATEGORY: score >= cut},
                "category_scores": {CATEGORY: round(score, 6)},
                "category_applied_input_types": {CATEGORY: ["text"]},
            } for score in scores],
            "usage": {"prompt_tokens": (tokens := sum(map(estimate_tokens, inputs))), "total_tokens": tokens},
        })

    return Starlette(
        routes=[
            *common.model_routes(model_id),
            Route("/v1/moderations", moderations, methods=["POST"]),
        ],
        exception_handlers={common.WorkerError: common.handle_worker_error},
        lifespan=lifespan,
    )


def main(argv: list[str] | None = None) -> None:
    own = argparse.ArgumentParser(add_help=False)
    own.add_argument("--threshold", type=float, default=None,
                     help="score from which an input is flagged (default: the model's own)")
    known, rest = own.parse_known_args(argv)
    options = common.parse_options(rest, description="OpenAI-compatible moderation worker (prompt injection)")
    common.serve(create_app(options.model_dir, options.model_id, known.threshold), options)


if __name__ == "__main__":
    main()
