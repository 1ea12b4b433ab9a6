"""/v1/moderations: the guardrail's classifier for applications (a retrieved document, a tool's
output, checked before use), metered like embeddings: by the input tokens the worker counts.

`flagged` is the worker's: it applies the operator's threshold (`guardrail_threshold`), the same
answer the guardrail policy screens prompts with.
"""

from __future__ import annotations

from llmaas.catalog import Capability, ModelEntry
from llmaas.errors import InvalidRequest
from llmaas.gateway.estimates import text_tokens_upper_bound
from llmaas.gateway.pipeline import Call, JSONObject
from llmaas.metering.pricing import Usage
from llmaas.wire.moderations import ModerationRequest

MAX_INPUTS = 2048


class Moderations:
    endpoint = "/v1/moderations"
    capability = Capability.MODERATION

    def check(self, entry: ModelEntry, request: ModerationRequest) -> Call:
        texts = self.texts(request)
        if not texts or len(texts) > MAX_INPUTS:
            raise InvalidRequest(f"`input` must hold between 1 and {MAX_INPUTS} texts.", param="input")
        bound = sum(text_tokens_upper_bound([text], context_length=10**9) for text in texts)
        return Call("/moderations", json=request.model_dump(exclude_unset=True), input_tokens=bound)

    def texts(self, request: ModerationRequest) -> list[str]:
        return [request.input] if isinstance(request.input, str) else request.input

    def usage(self, call: Call, body: JSONObject) -> Usage:
        return Usage(input_tokens=int((body.get("usage") or {}).get("prompt_tokens") or 0))

    def finish(self, request: ModerationRequest, body: JSONObject) -> None:
        body.pop("usage", None)  # OpenAI's moderation object has none; the ledger has it


MODERATIONS = Moderations()
