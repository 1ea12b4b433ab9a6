"""The request pipeline, read top to bottom:

    check the model → shape the request → admit (limits, budget reservation) → route and relay
    → settle the real usage (or release the reservation on failure)

Authentication happens before (api/deps.py) and hands over the caller.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

from llmaas.catalog import Capability, Catalog, ModelEntry
from llmaas.catalog.lifecycle import Resolution
from llmaas.errors import InvalidRequest, UnsupportedForModel, UpstreamFailed
from llmaas.gateway.accounting import Accounting, Caller, Ticket
from llmaas.gateway.estimates import disconnected_input_estimate, text_tokens_upper_bound
from llmaas.gateway.relay import UpstreamClient
from llmaas.gateway.streams import StreamEnd, relay_stream
from llmaas.gateway.toolcalls import narrow_tool_choice, recover_tool_calls
from llmaas.metering import LimitState
from llmaas.metering.pricing import Usage
from llmaas.observability.metrics import Metrics
from llmaas.routing import Router, UpstreamTarget
from llmaas.wire.requests import (
    ChatCompletionRequest,
    CompletionRequest,
    EmbeddingRequest,
    RerankRequest,
)

JSONObject = dict[str, Any]


@dataclass(frozen=True)
class Reply:
    body: JSONObject | AsyncIterator[bytes] | bytes
    limits: LimitState | None = None
    media_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)  # lifecycle notices


class Gateway:
    def __init__(
        self, *, catalog: Catalog, router: Router, client: UpstreamClient, metrics: Metrics,
        accounting: Accounting,
    ) -> None:
        self.catalog = catalog
        self.router = router
        self.client = client
        self.metrics = metrics
        self.accounting = accounting

    def model(self, model_id: str, capability: Capability, endpoint: str) -> Resolution:
        """The model that answers (aliases and retirement redirects applied), checked for the endpoint."""
        resolution = self.catalog.resolve(model_id)
        entry = resolution.served
        if not entry.supports(capability):
            hint = " It is a base model without a chat template: use /v1/completions." if (
                capability is Capability.CHAT and entry.supports(Capability.COMPLETIONS)
            ) else ""
            raise UnsupportedForModel(
                f"The model `{model_id}` does not support {endpoint}.{hint}", param="model"
            )
        return resolution

    # -- chat and completions -----------------------------------------------------------------

    async def chat(self, request: ChatCompletionRequest, caller: Caller) -> Reply:
        resolution = self.model(request.model, Capability.CHAT, "/v1/chat/completions")
        entry = resolution.served
        _check_chat_features(entry, request)
        payload = request.model_dump(exclude_unset=True, by_alias=True)
        payload.pop("max_completion_tokens", None)
        payload["max_tokens"] = _max_tokens(entry, request.max_completion_tokens or request.max_tokens)
        narrow_tool_choice(request, payload)
        bound = text_tokens_upper_bound(
            [payload["messages"], payload.get("tools") or []],
            context_length=entry.context_length, messages=len(request.messages),
        )
        reply = await self._generate(resolution, caller, "/v1/chat/completions", payload, bound)
        if isinstance(reply.body, dict):
            recover_tool_calls(request, reply.body)
        return reply

    async def completions(self, request: CompletionRequest, caller: Caller) -> Reply:
        resolution = self.model(request.model, Capability.COMPLETIONS, "/v1/completions")
        entry = resolution.served
        if isinstance(request.prompt, list) and len(request.prompt) != 1:
            raise InvalidRequest("Send one prompt per request.", param="prompt")
        payload = request.model_dump(exclude_unset=True, by_alias=True)
        payload["max_tokens"] = _max_tokens(entry, request.max_tokens)
        bound = text_tokens_upper_bound([payload["prompt"]], context_length=entry.context_length)
        return await self._generate(resolution, caller, "/v1/completions", payload, bound)

    async def _generate(
        self, resolution: Resolution, caller: Caller, endpoint: str, payload: JSONObject, input_bound: int
    ) -> Reply:
        entry = resolution.served
        max_output = payload.get("max_tokens") or entry.max_output_tokens or entry.context_length
        ticket = await self.accounting.admit(
            caller, entry, endpoint, model_requested=resolution.requested,
            input_tokens=input_bound, output_tokens=max_output,
        )
        path = endpoint.removeprefix("/v1")
        if payload.get("stream"):
            wants_usage = bool((payload.get("stream_options") or {}).get("include_usage"))
            # Always ask the engine for usage: the platform accounts for every token.
            payload["stream_options"] = {"include_usage": True}
            try:
                body = await relay_stream(
                    self.client.post(self.router.pool(entry.id), path, json=_for(payload)),
                    public_model=entry.id, include_usage=wants_usage, metrics=self.metrics,
                    on_end=self._stream_settler(ticket, input_bound),
                )
            except BaseException:
                await self.accounting.release(ticket)
                raise
            return Reply(body, ticket.limits, "text/event-stream", resolution.headers)
        result = await self._post_json(ticket, path, payload)
        usage = result.get("usage") or {}
        await self.accounting.settle(ticket, Usage(
            input_tokens=int(usage.get("prompt_tokens") or 0),
            output_tokens=int(usage.get("completion_tokens") or 0),
        ))
        return Reply(self._finish(entry, result), ticket.limits, headers=resolution.headers)

    def _stream_settler(self, ticket: Ticket, input_bound: int) -> Callable[[StreamEnd], Awaitable[None]]:
        async def settle(end: StreamEnd) -> None:
            if end.usage is not None:
                usage = Usage(int(end.usage.get("prompt_tokens") or 0),
                              int(end.usage.get("completion_tokens") or 0))
                await self.accounting.settle(ticket, usage)
            elif end.content_chunks:
                # The client left (or the engine died) before usage arrived: bill what was generated.
                usage = Usage(disconnected_input_estimate(input_bound), end.content_chunks)
                await self.accounting.settle(ticket, usage, status=499)
            else:
                await self.accounting.release(ticket)

        return settle

    # -- embeddings ---------------------------------------------------------------------------

    async def embeddings(self, request: EmbeddingRequest, caller: Caller) -> Reply:
        resolution = self.model(request.model, Capability.EMBEDDINGS, "/v1/embeddings")
        entry = resolution.served
        texts = [request.input] if isinstance(request.input, str) else request.input
        if not texts or len(texts) > 2048:
            raise InvalidRequest("`input` must hold between 1 and 2048 texts.", param="input")
        if any(not text for text in texts):
            raise InvalidRequest("`input` cannot contain an empty string.", param="input")
        if request.dimensions is not None and request.dimensions != entry.dimensions:
            raise InvalidRequest(
                f"`{entry.id}` only produces {entry.dimensions}-dimensional embeddings.",
                param="dimensions",
            )
        bound = sum(text_tokens_upper_bound([text], context_length=entry.context_length) for text in texts)
        ticket = await self.accounting.admit(
            caller, entry, "/v1/embeddings", model_requested=resolution.requested, input_tokens=bound)
        result = await self._post_json(ticket, "/embeddings", request.model_dump(exclude_unset=True))
        tokens = int((result.get("usage") or {}).get("prompt_tokens") or 0)
        await self.accounting.settle(ticket, Usage(input_tokens=tokens))
        return Reply(self._finish(entry, result), ticket.limits, headers=resolution.headers)

    # -- rerank -------------------------------------------------------------------------------

    async def rerank(self, request: RerankRequest, caller: Caller) -> Reply:
        resolution = self.model(request.model, Capability.RERANK, "/v1/rerank")
        entry = resolution.served
        texts = request.texts()
        if any(not text for text in texts):
            raise InvalidRequest("`documents` cannot contain an empty string.", param="documents")
        bound = sum(text_tokens_upper_bound([text], context_length=entry.context_length)
                    for text in [request.query, *texts])
        ticket = await self.accounting.admit(
            caller, entry, "/v1/rerank", model_requested=resolution.requested, input_tokens=bound,
            documents=len(texts))
        result = await self._post_json(ticket, "/rerank", request.model_dump(exclude_unset=True))
        tokens = int((result.get("usage") or {}).get("total_tokens") or 0)
        await self.accounting.settle(ticket, Usage(input_tokens=tokens, documents=len(texts)))
        return Reply(self._finish(entry, result), ticket.limits, headers=resolution.headers)

    # -- audio --------------------------------------------------------------------------------

    async def transcribe(
        self, *, model_id: str, fields: list[tuple[str, str]], audio: bytes, filename: str,
        audio_seconds: float, caller: Caller,
    ) -> Reply:
        resolution = self.model(model_id, Capability.TRANSCRIPTION, "/v1/audio/transcriptions")
        entry = resolution.served
        ticket = await self.accounting.admit(
            caller, entry, "/v1/audio/transcriptions", model_requested=resolution.requested,
            audio_seconds=audio_seconds)
        pool = self.router.pool(entry.id)

        def form(target: UpstreamTarget) -> aiohttp.FormData:
            data = aiohttp.FormData()
            data.add_field("model", target.model)
            for name, value in fields:
                data.add_field(name, value)
            data.add_field("file", audio, filename=filename, content_type="application/octet-stream")
            return data

        try:
            async with self.client.post(pool, "/audio/transcriptions", data=form) as (
                _target,
                resp,
            ):
                body = await resp.read()
                media_type = resp.headers.get("Content-Type", "application/json").split(";")[0]
        except BaseException:
            await self.accounting.release(ticket)
            raise
        # Billed on the duration measured before forwarding: the same figure the reservation held,
        # whatever response format the client chose.
        await self.accounting.settle(ticket, Usage(audio_seconds=audio_seconds))
        return Reply(body, ticket.limits, media_type, resolution.headers)

    async def _post_json(self, ticket: Ticket, path: str, payload: JSONObject) -> JSONObject:
        """POST to one of the model's upstreams; any failure releases the reservation."""
        try:
            async with self.client.post(
                self.router.pool(ticket.entry.id), path, json=_for(payload)
            ) as (_target, response):
                return await _json_body(response)
        except BaseException:
            await self.accounting.release(ticket)
            raise

    def _finish(self, entry: ModelEntry, body: JSONObject) -> JSONObject:
        body["model"] = entry.id  # clients see the catalog's name, whatever the engine calls it
        self.metrics.count_tokens(entry.id, body.get("usage"))
        return body


def _for(payload: JSONObject) -> Any:
    """The body for one upstream: the same request, under the model name that upstream knows."""
    return lambda target: {**payload, "model": target.model}


async def _json_body(response: aiohttp.ClientResponse) -> JSONObject:
    try:
        body = orjson.loads(await response.read())
    except orjson.JSONDecodeError:
        body = None
    if not isinstance(body, dict):
        raise UpstreamFailed("The engine returned an unexpected body.")
    return body


def _max_tokens(entry: ModelEntry, asked: int | None) -> int | None:
    if asked is None:
        return entry.max_output_tokens
    if entry.max_output_tokens is not None and asked > entry.max_output_tokens:
        raise InvalidRequest(
            f"`{entry.id}` produces at most {entry.max_output_tokens} tokens per answer; "
            f"{asked} were asked.",
            param="max_tokens",
        )
    return asked


def _check_chat_features(entry: ModelEntry, request: ChatCompletionRequest) -> None:
    images = [image for message in request.messages for image in message.images()]
    if images and not entry.supports(Capability.VISION):
        raise UnsupportedForModel(f"The model `{entry.id}` does not accept images.", param="messages")
    for image in images:
        if not image.url.startswith("data:image/"):
            # A sovereign platform fetches nothing on a client's behalf.
            raise InvalidRequest(
                "Images must be sent inline as data:image/...;base64 URLs.", param="messages"
            )
    if request.tools and not entry.supports(Capability.TOOLS):
        raise UnsupportedForModel(f"The model `{entry.id}` does not support tools.", param="tools")
    response_format = request.response_format
    if response_format and response_format.type != "text":
        if not entry.supports(Capability.JSON):
            raise UnsupportedForModel(
                f"The model `{entry.id}` does not support JSON output.", param="response_format"
            )
        if response_format.type == "json_schema" and response_format.json_schema is None:
            raise InvalidRequest(
                "`response_format.json_schema` is required with type json_schema.",
                param="response_format.json_schema",
            )
