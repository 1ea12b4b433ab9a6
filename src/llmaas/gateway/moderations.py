"""/v1/moderations: the guardrail's classifier for applications (a retrieved document, a tool's
output, checked before use), metered like embeddings: by the input tokens the worker counts.

`flagged` is the worker's: it applies the operator's threshold (`guardrail_threshold`), the same
answer the guardrail policy screens prompts with.
"""

from __future__ import annotations

from llmaas.catalog import Capability, ModelEntry
from llmaas.gateway.embeddings import input_texts, input_usage
from llmaas.gateway.estimates import text_tokens_upper_bound
from llmaas.gateway.pipeline import Call, JSONObject
from llmaas.metering.pricing import Usage
from llmaas.wire.moderations import ModerationRequest


class Moderations:
    endpoint = "/v1/moderations"
    capability = Capability.MODERATION

    def check(self, entry: ModelEntry, request: ModerationRequest) -> Call:
        texts = input_texts(request.input)
        bound = sum(text_tokens_upper_bound([text], context_length=10**9) for text in texts)
        return Call("/moderations", json=request.model_dump(exclude_unset=True), input_tokens=bound)

    def texts(self, request: ModerationRequest) -> list[str]:
        return input_texts(request.input)

    def usage(self, call: Call, body: JSONObject) -> Usage:
        return input_usage(body)

    def finish(self, request: ModerationRequest, body: JSONObject) -> None:
        body.pop("usage", None)  # OpenAI's moderation object has none; the ledger has it


MODERATIONS = Moderations()
