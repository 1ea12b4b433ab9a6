"""The request pipeline, read top to bottom: check the model, shape the request, route, relay.

Authentication happens before (api/deps.py); admission (rate limits, budgets) and usage
settlement slot in here as the platform grows.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson

from llmaas.api.openai.protocol import ChatCompletionRequest, CompletionRequest, EmbeddingRequest
from llmaas.catalog import Capability, Catalog, ModelEntry
from llmaas.errors import InvalidRequest, UnsupportedForModel, UpstreamFailed
from llmaas.gateway.relay import UpstreamClient
from llmaas.gateway.streams import relay_stream
from llmaas.gateway.toolcalls import narrow_tool_choice, recover_tool_calls
from llmaas.observability.metrics import Metrics
from llmaas.routing import Router, UpstreamTarget

JSONObject = dict[str, Any]


class Gateway:
    def __init__(
        self, *, catalog: Catalog, router: Router, client: UpstreamClient, metrics: Metrics
    ) -> None:
        self.catalog = catalog
        self.router = router
        self.client = client
        self.metrics = metrics

    def model(self, model_id: str, capability: Capability, endpoint: str) -> ModelEntry:
        entry = self.catalog.get(model_id)
        if not entry.supports(capability):
            hint = " It is a base model without a chat template: use /v1/completions." if (
                capability is Capability.CHAT and entry.supports(Capability.COMPLETIONS)
            ) else ""
            raise UnsupportedForModel(
                f"The model `{model_id}` does not support {endpoint}.{hint}", param="model"
            )
        return entry

    # -- chat ---------------------------------------------------------------------------------

    async def chat(self, request: ChatCompletionRequest) -> JSONObject | AsyncIterator[bytes]:
        entry = self.model(request.model, Capability.CHAT, "/v1/chat/completions")
        _check_chat_features(entry, request)
        payload = request.model_dump(exclude_unset=True, by_alias=True)
        payload.pop("max_completion_tokens", None)
        payload["max_tokens"] = _max_tokens(entry, request.max_completion_tokens or request.max_tokens)
        narrow_tool_choice(request, payload)
        result = await self._generate(entry, "/chat/completions", payload, request.stream_options)
        if isinstance(result, dict):
            recover_tool_calls(request, result)
        return result

    # -- completions --------------------------------------------------------------------------

    async def completions(self, request: CompletionRequest) -> JSONObject | AsyncIterator[bytes]:
        entry = self.model(request.model, Capability.COMPLETIONS, "/v1/completions")
        if isinstance(request.prompt, list) and len(request.prompt) != 1:
            raise InvalidRequest("Send one prompt per request.", param="prompt")
        payload = request.model_dump(exclude_unset=True, by_alias=True)
        payload["max_tokens"] = _max_tokens(entry, request.max_tokens)
        return await self._generate(entry, "/completions", payload, request.stream_options)

    async def _generate(
        self, entry: ModelEntry, path: str, payload: JSONObject, stream_options: Any
    ) -> JSONObject | AsyncIterator[bytes]:
        pool = self.router.pool(entry.id)
        if payload.get("stream"):
            wants_usage = bool(stream_options and stream_options.include_usage)
            # Always ask the engine for usage: the platform accounts for every token.
            payload["stream_options"] = {"include_usage": True}
            return await relay_stream(
                self.client.post(pool.candidates(), path, json=_for(payload)),
                public_model=entry.id,
                include_usage=wants_usage,
                metrics=self.metrics,
            )
        async with self.client.post(pool.candidates(), path, json=_for(payload)) as (target, resp):
            body = await _json_body(resp)
        return self._finish(entry, target, body)

    # -- embeddings ---------------------------------------------------------------------------

    async def embeddings(self, request: EmbeddingRequest) -> JSONObject:
        entry = self.model(request.model, Capability.EMBEDDINGS, "/v1/embeddings")
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
        payload = request.model_dump(exclude_unset=True, by_alias=True)
        pool = self.router.pool(entry.id)
        async with self.client.post(pool.candidates(), "/embeddings", json=_for(payload)) as (
            target,
            resp,
        ):
            body = await _json_body(resp)
        return self._finish(entry, target, body)

    # -- audio --------------------------------------------------------------------------------

    async def transcribe(
        self, *, model_id: str, fields: list[tuple[str, str]], audio: bytes, filename: str
    ) -> tuple[bytes, str]:
        entry = self.model(model_id, Capability.TRANSCRIPTION, "/v1/audio/transcriptions")
        pool = self.router.pool(entry.id)

        def form(target: UpstreamTarget) -> aiohttp.FormData:
            data = aiohttp.FormData()
            data.add_field("model", target.model)
            for name, value in fields:
                data.add_field(name, value)
            data.add_field("file", audio, filename=filename, content_type="application/octet-stream")
            return data

        async with self.client.post(pool.candidates(), "/audio/transcriptions", data=form) as (
            _target,
            resp,
        ):
            return await resp.read(), resp.headers.get("Content-Type", "application/json")

    def _finish(self, entry: ModelEntry, target: UpstreamTarget, body: JSONObject) -> JSONObject:
        body["model"] = entry.id  # clients see the catalog's name, whatever the engine calls it
        self.metrics.count_tokens(entry.id, body.get("usage"))
        return body


def _for(payload: JSONObject) -> Any:
    """The body for one upstream: the same request, under the model name that upstream knows."""
    return lambda target: {**payload, "model": target.model}


async def _json_body(response: aiohttp.ClientResponse) -> JSONObject:
    body = orjson.loads(await response.read())
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
