"""The guardrail step: the texts a model will read, screened for prompt injection before admission.

    verdict = await screening.screen(texts, caller=caller, entry=entry, endpoint=..., ...)

The classifier runs in the guardrail worker (engines/workers/guardrail.py), reached over HTTP through
the router like any model: `POST /moderations` on the pool of `guardrail_model`. What happens next is
the caller's policy (its key's, else its tier's): `off` screens nothing; `flag` lets the request
through, marked (a header, a metric, the ledger row); `block` refuses it with 400
`prompt_injection_detected` before admission, so nothing reaches the engine and nothing is charged,
and writes a ledger row that says blocked.

When the guardrail cannot answer, `block` fails closed (the request gets the guardrail's error) and
`flag` fails open (the request proceeds unmarked, with a warning in the log).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Any

import orjson

from llmaas.catalog import ModelEntry
from llmaas.errors import LlmaasError, PromptInjectionDetected, UpstreamFailed
from llmaas.gateway.accounting import Accounting, Caller
from llmaas.gateway.relay import UpstreamClient
from llmaas.guardrails import Policy, Verdict
from llmaas.observability.metrics import Metrics
from llmaas.routing import Router

log = logging.getLogger(__name__)
HEADER = "x-llmaas-guardrail"


class Screening:
    def __init__(self, *, client: UpstreamClient, metrics: Metrics, accounting: Accounting,
                 model: str | None) -> None:
        self.client = client
        self.metrics = metrics
        self.accounting = accounting
        self.model = model  # None: no guardrail model in the catalog, nothing is screened

    async def screen(
        self, router: Router, texts: Iterable[str], *, caller: Caller, entry: ModelEntry, endpoint: str,
        model_requested: str,
    ) -> Verdict | None:
        """None when the request may proceed unmarked, FLAGGED when marked; raises when blocked."""
        policy = caller.key.guardrail
        if policy is Policy.OFF or self.model is None or self.model not in router.pools:
            return None
        inputs = [text for text in texts if text.strip()]
        if not inputs:
            return None
        started = time.perf_counter()
        try:
            found = await self.detect(router, inputs)
        except LlmaasError:
            if policy is Policy.BLOCK:
                raise
            log.warning("guardrail unavailable: request %s passed unscreened", caller.request_id)
            return None
        if not found:
            return None
        if policy is Policy.BLOCK:
            self.metrics.count_guardrail(entry.id, Verdict.BLOCKED.value)
            self.accounting.record_blocked(caller, entry, endpoint, model_requested=model_requested,
                                           started=started)
            raise PromptInjectionDetected(
                "This request was blocked by the platform's guardrail: it looks like a prompt injection "
                "(instructions aimed at the model inside the prompt, a document or a tool result).",
                param="messages" if endpoint.endswith("chat/completions") else "prompt",
            )
        self.metrics.count_guardrail(entry.id, Verdict.FLAGGED.value)
        return Verdict.FLAGGED

    async def detect(self, router: Router, inputs: list[str]) -> bool:
        """Whether the guardrail model flags any of `inputs` (each scanned in windows by the worker)."""
        assert self.model is not None
        payload = {"model": self.model, "input": inputs}
        async with self.client.post(router.pool(self.model), "/moderations",
                                    json=lambda target: {**payload, "model": target.model}) as (_, response):
            raw = await response.read()
        try:
            body: Any = orjson.loads(raw)
            return any(bool(result["flagged"]) for result in body["results"])
        except (orjson.JSONDecodeError, KeyError, TypeError):
            raise UpstreamFailed("The guardrail returned an unexpected body.") from None
