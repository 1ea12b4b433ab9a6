"""/v1/embeddings: up to 2048 texts per request, each with a bound on its tokens; the model's own
vector size only (no truncation on request)."""

from __future__ import annotations

from llmaas.catalog import Capability, ModelEntry
from llmaas.errors import InvalidRequest
from llmaas.gateway.estimates import text_tokens_upper_bound
from llmaas.gateway.pipeline import Call, JSONObject
from llmaas.metering.pricing import Usage
from llmaas.wire.requests import MAX_INPUTS, NOT_FORWARDED, EmbeddingRequest


class Embeddings:
    endpoint = "/v1/embeddings"
    capability = Capability.EMBEDDINGS

    def check(self, entry: ModelEntry, request: EmbeddingRequest) -> Call:
        texts = input_texts(request.input)
        if any(not text for text in texts):
            raise InvalidRequest("`input` cannot contain an empty string.", param="input")
        if request.dimensions is not None and request.dimensions != entry.dimensions:
            raise InvalidRequest(
                f"`{entry.id}` only produces {entry.dimensions}-dimensional embeddings.",
                param="dimensions",
            )
        bound = sum(text_tokens_upper_bound([text], context_length=entry.context_length) for text in texts)
        payload = request.model_dump(exclude_unset=True, exclude=NOT_FORWARDED)
        return Call("/embeddings", json=payload, input_tokens=bound)

    def texts(self, request: EmbeddingRequest) -> list[str]:
        return input_texts(request.input)

    def usage(self, call: Call, body: JSONObject) -> Usage:
        return input_usage(body)

    def finish(self, request: EmbeddingRequest, body: JSONObject) -> None:
        pass


EMBEDDINGS = Embeddings()


def input_texts(value: str | list[str]) -> list[str]:
    """An `input` of one text or a list of them (embeddings, moderations), 1 to MAX_INPUTS texts."""
    texts = [value] if isinstance(value, str) else value
    if not texts or len(texts) > MAX_INPUTS:
        raise InvalidRequest(f"`input` must hold between 1 and {MAX_INPUTS} texts.", param="input")
    return texts


def input_usage(body: JSONObject) -> Usage:
    """What an input-only engine answer says was used: its `prompt_tokens`."""
    return Usage(input_tokens=int((body.get("usage") or {}).get("prompt_tokens") or 0))
