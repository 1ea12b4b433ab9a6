"""Reranking with an embedding model: documents ordered by cosine similarity to the query.

A bi-encoder, not a cross-encoder: less precise than a dedicated reranker, but real, multilingual with
e5, and served by the model already loaded. The wire shape is the Cohere/Jina one vLLM serves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from llmaas.engines.workers import common

MAX_DOCUMENTS = 1000


@dataclass(frozen=True)
class RerankRequest:
    query: str
    documents: list[str]
    top_n: int
    return_documents: bool


def parse_rerank(body: Any) -> RerankRequest:
    if not isinstance(body, dict):
        raise common.WorkerError("The body must be a JSON object.")
    query = body.get("query")
    if not isinstance(query, str) or not query.strip():
        raise common.WorkerError("`query` must be a non-empty string.", param="query")
    raw = body.get("documents")
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_DOCUMENTS:
        raise common.WorkerError(f"`documents` must list 1 to {MAX_DOCUMENTS} documents.", param="documents")
    documents = []
    for index, item in enumerate(raw):
        text = item.get("text") if isinstance(item, dict) else item
        if not isinstance(text, str) or not text:
            raise common.WorkerError(f"documents[{index}] must be a non-empty string or {{\"text\": ...}}.",
                                     param="documents")
        documents.append(text)
    top_n = body.get("top_n", len(documents))
    if not isinstance(top_n, int) or isinstance(top_n, bool) or top_n < 1:
        raise common.WorkerError("`top_n` must be a positive integer.", param="top_n")
    return_documents = body.get("return_documents", True)
    if not isinstance(return_documents, bool):
        raise common.WorkerError("`return_documents` must be a boolean.", param="return_documents")
    return RerankRequest(query, documents, min(top_n, len(documents)), return_documents)


def rerank_response(request: RerankRequest, vectors: Any, tokens: int, model_id: str,
                    request_id: str) -> dict[str, Any]:
    """`vectors[0]` is the query's; the rest the documents', all L2-normalised."""
    scores = np.asarray(vectors[1:]) @ np.asarray(vectors[0])
    order = np.argsort(-scores, kind="stable")[: request.top_n]
    results = []
    for index in order:
        result: dict[str, Any] = {"index": int(index), "relevance_score": float(scores[index])}
        if request.return_documents:
            result["document"] = {"text": request.documents[index]}
        results.append(result)
    return {"id": request_id, "model": model_id, "results": results, "usage": {"total_tokens": tokens}}
