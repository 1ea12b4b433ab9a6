"""/v1/rerank: a query against up to 1000 documents, billed per token and per thousand documents."""

from __future__ import annotations

from collections.abc import Iterable

from llmaas.catalog import Capability, ModelEntry
from llmaas.errors import InvalidRequest
from llmaas.gateway.estimates import text_tokens_upper_bound
from llmaas.gateway.pipeline import Call, JSONObject
from llmaas.metering.pricing import Usage
from llmaas.wire.requests import NOT_FORWARDED, RerankRequest


class Rerank:
    endpoint = "/v1/rerank"
    capability = Capability.RERANK

    def check(self, entry: ModelEntry, request: RerankRequest) -> Call:
        texts = request.texts()
        if any(not text for text in texts):
            raise InvalidRequest("`documents` cannot contain an empty string.", param="documents")
        bound = sum(text_tokens_upper_bound([text], context_length=entry.context_length)
                    for text in [request.query, *texts])
        payload = request.model_dump(exclude_unset=True, exclude=NOT_FORWARDED)
        return Call("/rerank", json=payload, input_tokens=bound, documents=len(texts))

    def texts(self, request: RerankRequest) -> Iterable[str]:
        return [request.query, *request.texts()]

    def usage(self, call: Call, body: JSONObject) -> Usage:
        # Rerank engines report one figure: the query and the documents together.
        tokens = int((body.get("usage") or {}).get("total_tokens") or 0)
        return Usage(input_tokens=tokens, documents=call.documents)

    def finish(self, request: RerankRequest, body: JSONObject) -> None:
        pass


RERANK = Rerank()
