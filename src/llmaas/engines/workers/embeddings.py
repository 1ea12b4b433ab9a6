"""The embeddings worker: OpenAI's ``/v1/embeddings`` over a small local model.

    python -m llmaas.engines.workers.embeddings --model-dir DIR --model-id ID --port 8301 --threads 2

The model is recognised by the files in DIR: ``model.onnx`` + ``tokenizer.json`` is all-MiniLM-L6-v2
(onnxruntime), ``e5-small-q4.bin`` is multilingual-e5-small (numpy, see `e5_q4`). Both answer 384
L2-normalised floats per input. Inputs longer than the model reads are refused, never truncated.
``usage`` counts the tokens the model reads, its special tokens included, but not e5's prefix.
Nothing of the content is logged: this platform keeps no prompts.
"""

from __future__ import annotations

import base64
import json
import logging
import math
import time
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import anyio
import numpy as np
import numpy.typing as npt
import onnxruntime as ort
import orjson
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.routing import Route
from tokenizers import Tokenizer

from llmaas.engines.workers import common, ranking
from llmaas.engines.workers.e5_q4 import E5Q4, limit_blas_threads
from llmaas.engines.workers.e5_q4 import FILE_NAME as E5_FILE
from llmaas.wire.requests import MAX_INPUTS

__all__ = [
    "Encoder", "MiniLM", "MultilingualE5", "create_app", "embed_texts", "load_encoder", "main",
    "plan_batches",
]

logger = logging.getLogger("llmaas.engines.embeddings")
Floats = npt.NDArray[np.float32]
# Padded tokens per forward pass: enough to fill the matmuls, small enough that a batch of
# 512-token inputs keeps its attention scores (batch x 12 x L x L floats) near 50 MB.
_BATCH_TOKENS = 2048
_BATCH_ROWS = 64


class Encoder(Protocol):
    dimensions: int
    max_tokens: int  # the most tokens one input may have, specials and prefix included
    overhead_tokens: int  # tokens the worker adds on its own (a prefix), left out of usage

    def tokenize(self, texts: list[str]) -> list[list[int]]: ...

    def embed(self, batch: list[list[int]]) -> Floats: ...


class MiniLM:
    """all-MiniLM-L6-v2 (int8 ONNX): mean pooling over the attention mask, then L2 normalisation."""

    overhead_tokens = 0

    def __init__(self, model_dir: Path) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1  # threads come from running batches side by side
        options.inter_op_num_threads = 1
        # ORT's arena stays on (without it glibc kept more: 1055 against 524 MB after batches of
        # 8 x 250 tokens on 2 threads), and gives its free chunks back after each run (421 MB).
        self.run_options = ort.RunOptions()
        self.run_options.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
        self.session = ort.InferenceSession(
            str(model_dir / "model.onnx"), options, providers=["CPUExecutionProvider"]
        )
        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        # The shipped tokenizer.json pads and truncates to 128: we pad per batch and refuse long inputs.
        self.tokenizer.no_truncation()
        self.tokenizer.no_padding()
        st_config = json.loads((model_dir / "sentence_bert_config.json").read_text())
        self.max_tokens = int(st_config["max_seq_length"])  # 256: what it was trained on (positions: 512)
        self.dimensions = int(self.session.get_outputs()[0].shape[-1])

    def tokenize(self, texts: list[str]) -> list[list[int]]:
        # One by one: encode_batch would start a thread per core behind --threads' back, for no
        # gain (2048 short inputs take 70 ms either way).
        return [self.tokenizer.encode(text).ids for text in texts]

    def embed(self, batch: list[list[int]]) -> Floats:
        length = max(map(len, batch))
        ids = np.zeros((len(batch), length), dtype=np.int64)
        mask = np.zeros((len(batch), length), dtype=np.int64)
        for row, seq in enumerate(batch):
            ids[row, :len(seq)] = seq
            mask[row, :len(seq)] = 1
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        hidden = np.asarray(self.session.run(None, feeds, self.run_options)[0], dtype=np.float32)
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / weights.sum(axis=1)
        out: Floats = pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return out


class MultilingualE5:
    """multilingual-e5-small, 4-bit. Every input is embedded as ``"query: " + input``.

    e5 was trained with ``query: `` / ``passage: `` prefixes and gives poor vectors without one;
    OpenAI's API has no field to say which, so the worker uses ``query: `` for all inputs (e5's own
    advice for symmetric tasks such as similarity and clustering). The prefix counts toward the
    512-token limit but not toward ``usage``.
    """

    prefix = "query: "

    def __init__(self, model_dir: Path) -> None:
        if not limit_blas_threads(1):  # threads come from running batches side by side
            logger.warning("could not cap numpy's OpenBLAS at one thread: it may use every core")
        self.model = E5Q4(model_dir / E5_FILE)
        self.dimensions = self.model.hidden
        self.max_tokens = self.model.max_positions
        # "▁query:" alone: the prefix's space becomes the ▁ that starts the text's first word.
        self.overhead_tokens = len(self.model.tokenize([self.prefix.rstrip()])[0]) - 2

    def tokenize(self, texts: list[str]) -> list[list[int]]:
        return self.model.tokenize([self.prefix + t for t in texts])

    def embed(self, batch: list[list[int]]) -> Floats:
        return self.model.embed(batch)


def load_encoder(model_dir: Path) -> Encoder:
    if (model_dir / E5_FILE).is_file():
        return MultilingualE5(model_dir)
    if (model_dir / "model.onnx").is_file() and (model_dir / "tokenizer.json").is_file():
        return MiniLM(model_dir)
    raise FileNotFoundError(f"{model_dir} holds no known embedding model ({E5_FILE} or model.onnx)")


def plan_batches(lengths: list[int], parallel: int = 1) -> list[list[int]]:
    """Input indices grouped into batches of similar length, at least ``parallel`` when possible."""
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    most_rows = min(_BATCH_ROWS, max(1, math.ceil(len(order) / parallel)))
    batches: list[list[int]] = []
    for index in order:  # ascending, so the newest row sets the batch's padded length
        batch = batches[-1] if batches else []
        if not batch or len(batch) >= most_rows or (len(batch) + 1) * lengths[index] > _BATCH_TOKENS:
            batches.append(batch := [])
        batch.append(index)
    return batches


def embed_texts(encoder: Encoder, texts: list[str], pool: ThreadPoolExecutor | None = None,
                parallel: int = 1) -> tuple[Floats, int]:
    """Embed ``texts``; return the vectors in input order and the token count for ``usage``.

    Batches run side by side on ``pool``, each on one thread. Measured on 2 busy cores, this beats
    the libraries' own threading, whose spinning threads slowed a batch 1.5-7x when another
    process held a core (BLAS at 2 threads: 2.4-6.9 s where 1 thread took 0.7-0.95 s).
    """
    sequences = encoder.tokenize(texts)
    for index, seq in enumerate(sequences):
        if len(seq) > encoder.max_tokens:
            # Counted as usage counts them, so the numbers agree with what a client is billed.
            raise common.WorkerError(
                f"input[{index}] has {len(seq) - encoder.overhead_tokens} tokens; this model reads at most "
                f"{encoder.max_tokens - encoder.overhead_tokens} per input. Shorten or split it.",
                param="input", code="context_length_exceeded",
            )
    batches = plan_batches([len(s) for s in sequences], parallel)

    def run(batch: list[int]) -> Floats:
        return encoder.embed([sequences[i] for i in batch])

    results = pool.map(run, batches) if pool is not None and len(batches) > 1 else map(run, batches)
    out = np.empty((len(texts), encoder.dimensions), dtype=np.float32)
    for batch, vectors in zip(batches, results, strict=True):
        out[batch] = vectors
    return out, sum(len(s) - encoder.overhead_tokens for s in sequences)


@dataclass(frozen=True)
class EmbeddingRequest:
    inputs: list[str]
    encoding_format: str


def parse_request(body: Any, dimensions: int) -> EmbeddingRequest:
    """Check an OpenAI embeddings body; raise `common.WorkerError` naming the faulty field."""
    if not isinstance(body, dict):
        raise common.WorkerError("The request body must be a JSON object.")
    if "input" not in body:
        raise common.WorkerError("You must provide an input.", param="input")
    raw = body["input"]
    inputs = [raw] if isinstance(raw, str) else raw
    if not isinstance(inputs, list):
        raise common.WorkerError("input must be a string or an array of strings.", param="input")
    if not inputs:
        raise common.WorkerError("input must not be an empty array.", param="input")
    if all(isinstance(item, int) for item in inputs) or any(isinstance(item, list) for item in inputs):
        raise common.WorkerError(
            "Token arrays are not supported by this model: send the text as a string or an array of strings.",
            param="input",
        )
    for index, item in enumerate(inputs):
        if not isinstance(item, str):
            raise common.WorkerError(f"input[{index}] must be a string.", param="input")
        if not item:
            raise common.WorkerError(f"input[{index}] must not be an empty string.", param="input")
    if len(inputs) > MAX_INPUTS:
        raise common.WorkerError(
            f"input may hold at most {MAX_INPUTS} items, got {len(inputs)}.", param="input"
        )
    if "model" in body and not isinstance(body["model"], str):
        raise common.WorkerError("model must be a string.", param="model")
    encoding_format = body.get("encoding_format") or "float"
    if encoding_format not in ("float", "base64"):
        raise common.WorkerError("encoding_format must be 'float' or 'base64'.", param="encoding_format")
    dims = body.get("dimensions")
    if dims is not None and (isinstance(dims, bool) or dims != dimensions):
        raise common.WorkerError(
            f"This model only returns {dimensions} dimensions; omit dimensions or set it to {dimensions}.",
            param="dimensions",
        )
    return EmbeddingRequest(inputs, encoding_format)


async def json_body(request: Request) -> Any:
    try:
        return orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        raise common.WorkerError("We could not parse the JSON body of your request.") from None


def create_app(model_dir: Path, model_id: str, threads: int) -> Starlette:
    """The worker's ASGI app; the model is loaded in the lifespan, so /health answers only after it."""
    loaded: list[tuple[Encoder, ThreadPoolExecutor]] = []
    # One request at a time: its batches already use every thread given, and waiting requests
    # queue on the event loop instead of holding a thread each.
    busy = anyio.Lock()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        started = time.perf_counter()
        encoder = await run_in_threadpool(load_encoder, model_dir)
        logger.info("loaded %s in %.1f s", model_id, time.perf_counter() - started)
        with ThreadPoolExecutor(threads, thread_name_prefix="embed") as pool:
            loaded.append((encoder, pool))
            yield

    async def embeddings(request: Request) -> common.JSONResponse:
        encoder, pool = loaded[0]
        body = await json_body(request)
        parsed = parse_request(body, encoder.dimensions)
        started = time.perf_counter()
        async with busy:
            try:
                vectors, tokens = await run_in_threadpool(embed_texts, encoder, parsed.inputs, pool, threads)
            except common.WorkerError:
                raise
            except Exception as exc:  # the one 500 boundary: its message could quote the input
                logger.error("embedding failed: %s", type(exc).__name__)
                raise common.WorkerError("The model failed on this request.", status_code=500,
                                         type="server_error") from None
        logger.debug("embedded %d inputs, %d tokens in %.3f s",
                     len(parsed.inputs), tokens, time.perf_counter() - started)
        if parsed.encoding_format == "base64":  # OpenAI's: little-endian float32 bytes, base64
            data: list[Any] = [base64.b64encode(v.astype("<f4").tobytes()).decode() for v in vectors]
        else:
            data = list(vectors)
        return common.JSONResponse({
            "object": "list",
            "data": [{"object": "embedding", "index": i, "embedding": e} for i, e in enumerate(data)],
            "model": model_id,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        })

    async def rerank(request: Request) -> common.JSONResponse:
        encoder, pool = loaded[0]
        body = await json_body(request)
        parsed = ranking.parse_rerank(body)
        async with busy:
            vectors, tokens = await run_in_threadpool(
                embed_texts, encoder, [parsed.query, *parsed.documents], pool, threads)
        return common.JSONResponse(
            ranking.rerank_response(parsed, vectors, tokens, model_id, f"rerank-{uuid.uuid4().hex}"))

    return Starlette(
        routes=[
            *common.model_routes(model_id),
            Route("/v1/embeddings", embeddings, methods=["POST"]),
            Route("/v1/rerank", rerank, methods=["POST"]),
        ],
        exception_handlers={common.WorkerError: common.handle_worker_error},
        lifespan=lifespan,
    )


def main(argv: list[str] | None = None) -> None:
    options = common.parse_options(argv, description="OpenAI-compatible embeddings worker")
    common.serve(create_app(options.model_dir, options.model_id, options.threads), options)


if __name__ == "__main__":
    main()
