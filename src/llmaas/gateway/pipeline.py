"""The request pipeline: one skeleton that every request reads top to bottom (`Gateway.serve`).

    resolve the model → check and shape the request → screen (guardrails, screening.py)
    → admit (limits, budget reservation) → fetch remote images (images.py)
    → relay to an engine → settle the real usage once the answer is sent (or release the
      reservation on failure)

Authentication happens before (api/deps.py) and hands over the caller. What differs per endpoint
family — its checks, its upstream body, its upper bounds, where its usage is — lives in one module
each (chat.py, embeddings.py, rerank.py, transcription.py), behind `Family`.
"""

from __future__ import annotations

import math
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol, TypeVar

import aiohttp
import orjson
from starlette.concurrency import run_in_threadpool

from llmaas.catalog import Capability, Catalog, ModelEntry
from llmaas.catalog.lifecycle import Resolution
from llmaas.errors import UnsupportedForModel, UpstreamFailed
from llmaas.gateway.accounting import Accounting, Caller, Ticket
from llmaas.gateway.estimates import disconnected_input_estimate
from llmaas.gateway.images import ImagePolicy, RemoteImages
from llmaas.gateway.isolation import CacheSalts, isolate
from llmaas.gateway.media import audio_duration
from llmaas.gateway.relay import UpstreamClient
from llmaas.gateway.screening import HEADER, Screening
from llmaas.gateway.serving import ServedCatalog
from llmaas.gateway.streams import EventEditor, StreamEnd, relay_stream
from llmaas.guardrails import Verdict
from llmaas.metering import LimitState
from llmaas.metering.pricing import Usage
from llmaas.observability.metrics import Metrics
from llmaas.routing import Router, UpstreamTarget
from llmaas.status import MinuteRecorder
from llmaas.wire.requests import ImageURL

JSONObject = dict[str, Any]
# What a model reads as instructions; embeddings, rerank and moderation only measure their inputs.
SCREENED = frozenset({Capability.CHAT, Capability.COMPLETIONS})


@dataclass(frozen=True)
class Reply:
    body: JSONObject | AsyncIterator[bytes] | bytes
    limits: LimitState | None = None
    media_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)  # lifecycle notices
    # Run once the answer is sent (serve's `settle_after`): settling in a shared meter is a round trip
    # the client need not wait for. Whoever renders the Reply must run it, or the usage is not billed.
    after: Callable[[], Awaitable[None]] | None = None


@dataclass(slots=True)
class Call:
    """A request shaped for its engine, with the worst case admission reserves for it."""

    path: str  # on the engine: "/chat/completions"
    json: JSONObject | None = None  # the body, sent under each upstream's own model name; or
    form: Callable[[UpstreamTarget], aiohttp.FormData] | None = None  # an upload, built per attempt
    audio: bytes | None = None  # measured before admission: the duration is reserved and billed
    stream: bool = False
    isolated: bool = False  # reaches an engine's prompt cache: kept apart per tenant (isolation.py)
    include_usage: bool = False  # the client asked for usage at the end of the stream
    editor: EventEditor | None = None  # rewrites the stream's events (tool calls written as text)
    # Retells the whole relayed stream in another API's events (a chat stream as /v1/responses').
    translate: Callable[[AsyncGenerator[bytes, None]], AsyncIterator[bytes]] | None = None
    input_tokens: int = 0  # upper bounds
    output_tokens: int = 0
    audio_seconds: float = 0.0
    documents: int = 0
    # The request's images, each with the parameter that names it: checked, and fetched, by images.py.
    images: tuple[tuple[str, ImageURL], ...] = ()


class Requested(Protocol):
    """What every request names: the model it asks for."""

    @property
    def model(self) -> str: ...


RequestT = TypeVar("RequestT", bound=Requested, contravariant=True)


class Family(Protocol[RequestT]):
    """An endpoint family's part of the pipeline; the rest is the same for all."""

    endpoint: str  # its public path, as the ledger and the errors name it
    capability: Capability

    def check(self, entry: ModelEntry, request: RequestT) -> Call:
        """Refuse what the model cannot serve (InvalidRequest, ...), else shape the engine's call."""
        ...

    def texts(self, request: RequestT) -> Iterable[str]:
        """The client's texts in the request, for the guardrails."""
        ...

    def usage(self, call: Call, body: JSONObject) -> Usage:
        """What the engine's answer says was used (`body` is empty when it passed through unread)."""
        ...

    def finish(self, request: RequestT, body: JSONObject) -> None:
        """Last touches to the engine's JSON answer before the client gets it."""
        ...


class Gateway:
    def __init__(
        self, *, served: ServedCatalog, client: UpstreamClient, metrics: Metrics, accounting: Accounting,
        salts: CacheSalts | None = None, guardrail_model: str | None = None,
        minutes: MinuteRecorder | None = None,
        images: ImagePolicy | None = None, max_audio_seconds: float = math.inf,
    ) -> None:
        self.served = served
        self.minutes = minutes  # each streamed answer's speed, for the status page
        self.client = client
        self.metrics = metrics
        self.accounting = accounting
        self.salts = salts or CacheSalts(None)
        self.images = images or ImagePolicy()
        self.max_audio_seconds = max_audio_seconds
        self.screening = Screening(client=client, metrics=metrics, accounting=accounting,
                                   model=guardrail_model)

    @property
    def catalog(self) -> Catalog:
        """The catalog served now; `served` swaps it on a reload or an override write."""
        return self.served.catalog

    @property
    def router(self) -> Router:
        return self.served.router

    async def serve(self, family: Family[RequestT], request: RequestT, caller: Caller, *,
                    settle_after: bool = False) -> Reply:
        """Answer one request of `family` for `caller`: the steps below, in this order.

        `settle_after`: a non-streamed answer's settlement is left to `Reply.after`, which the caller
        runs once the answer is sent (api/openai/responses.py's `render` does); otherwise it is done
        before returning."""
        resolution = self.model(request.model, family.capability, family.endpoint)
        entry = resolution.served
        call = family.check(entry, request)
        remote = RemoteImages()
        if call.images:  # a model without vision refused them in family.check
            remote = self.images.check(call.images)  # no network: the fetches wait for the admission
        if remote.images:  # each one inline at most this long
            call.input_tokens = min(entry.context_length,
                                    call.input_tokens + len(remote.images) * self.images.max_data_url_bytes)
        if call.audio is not None:  # decoding takes CPU: off the event loop
            call.audio_seconds = await run_in_threadpool(
                audio_duration, call.audio, max_seconds=self.max_audio_seconds)
        verdict = await self.screen(family, request, caller, resolution)
        headers = {**resolution.headers, HEADER: verdict.value} if verdict else resolution.headers
        ticket = await self.accounting.admit(
            caller, entry, family.endpoint, model_requested=resolution.requested,
            input_tokens=call.input_tokens, output_tokens=call.output_tokens,
            audio_seconds=call.audio_seconds, documents=call.documents,
        )
        ticket.guardrail = verdict
        salt = self.salts.salt(caller.key.tenant_id) if call.isolated else None
        try:
            if remote.images:  # the client passed its limits and budget: now the gateway fetches
                await self.images.fetch(remote)
                call = family.check(entry, request)  # the engine's call, the images inline
            upstream = self.client.post(
                self.router.pool(entry.id), call.path,
                json=None if call.json is None else _for(call.json, salt), data=call.form,
            )
            if call.stream:  # settled when the stream ends, however it ends
                events = await relay_stream(
                    upstream, public_model=entry.id, include_usage=call.include_usage,
                    metrics=self.metrics, on_end=self._stream_settler(ticket, call.input_tokens),
                    editor=call.editor,
                )
                shown = events if call.translate is None else call.translate(events)
                return Reply(shown, ticket.limits, "text/event-stream", headers)
            async with upstream as (_target, response):
                if call.form is None:
                    body = await _json_body(response)
                else:  # an upload's answer passes through as the engine wrote it (json, text, srt, vtt)
                    raw = await response.read()
                    media_type = response.headers.get("Content-Type", "application/json").split(";")[0]
        except BaseException:
            await self.accounting.release(ticket)  # nothing was served
            raise
        usage = family.usage(call, {} if call.form is not None else body)
        settlement = partial(self.accounting.settle, ticket, usage)
        if not settle_after:
            await settlement()
        after = settlement if settle_after else None
        if call.form is not None:
            return Reply(raw, ticket.limits, media_type, headers, after=after)
        family.finish(request, body)
        body["model"] = entry.id  # clients see the catalog's name, whatever the engine calls it
        self.metrics.count_tokens(entry.id, body.get("usage"))
        return Reply(body, ticket.limits, headers=headers, after=after)

    def label(self, model: str) -> str:
        """What metrics and logs may call a requested model: its name when the catalog has it (an id
        or an alias), else "unknown". A client's free text never becomes a metric label."""
        return model if model in self.catalog else "unknown"

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

    async def screen(
        self, family: Family[RequestT], request: RequestT, caller: Caller, resolution: Resolution,
    ) -> Verdict | None:
        """Prompt injection in what a generating model will read (`family.texts`), under the caller's
        policy: None to proceed, FLAGGED to proceed marked; a blocked request raises here."""
        if family.capability not in SCREENED:
            return None
        return await self.screening.screen(
            self.router, family.texts(request), caller=caller, entry=resolution.served,
            endpoint=family.endpoint, model_requested=resolution.requested,
        )

    def _stream_settler(self, ticket: Ticket, input_bound: int) -> Callable[[StreamEnd], Awaitable[None]]:
        async def settle(end: StreamEnd) -> None:
            if end.usage is not None:
                await self.accounting.settle(ticket, Usage.reported(end.usage))
            elif end.content_chunks:
                # The client left (or the engine died) before usage arrived: bill what was generated.
                usage = Usage(disconnected_input_estimate(input_bound), end.content_chunks)
                await self.accounting.settle(ticket, usage, status=499)
            else:
                await self.accounting.release(ticket)
            if self.minutes is not None and end.first_token_s is not None:  # after the bill, always
                generated = Usage.reported(end.usage).output_tokens if end.usage else end.content_chunks
                self.minutes.streamed(ticket.entry.id, first_token_s=end.first_token_s,
                                      decode_tokens=generated - 1, decode_s=end.decode_s)

        return settle


def _for(payload: JSONObject, salt: str | None) -> Any:
    """The body for one upstream: the same request, under the model name that upstream knows, and
    kept from other tenants' prompts in its cache the way that upstream needs (`salt` given)."""
    if salt is None:
        return lambda target: {**payload, "model": target.model}
    return lambda target: isolate({**payload, "model": target.model}, target.cache_isolation, salt)


async def _json_body(response: aiohttp.ClientResponse) -> JSONObject:
    try:
        body = orjson.loads(await response.read())
    except orjson.JSONDecodeError:
        body = None
    if not isinstance(body, dict):
        raise UpstreamFailed("The engine returned an unexpected body.")
    return body
