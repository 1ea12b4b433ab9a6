"""The OpenAI JSON endpoints (chat, completions, responses, embeddings, rerank) served as plain ASGI.

They are the platform's hot path. Under FastAPI, routing, dependency injection and body parsing
were about a third of the gateway's CPU per request (docs/benchmarks.md), so these bypass it: one
dictionary lookup finds the endpoint, the wire models validate the body, and the functions FastAPI's
handlers use authenticate and shape the errors. FastAPI serves every other route, and documents these
from `ENDPOINTS` (`documented`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, Self, TypeVar

import orjson
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from pydantic import ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from llmaas.api.deps import authenticate, client_address
from llmaas.api.errors import http_error, platform_error, unexpected_error, validation_error
from llmaas.api.middleware import RequestFacts, facts, header
from llmaas.api.openai.responses import render
from llmaas.api.openapi import openai_errors
from llmaas.errors import InvalidRequest, LlmaasError
from llmaas.gateway import Gateway
from llmaas.gateway.accounting import Caller
from llmaas.gateway.chat import CHAT, COMPLETIONS
from llmaas.gateway.embeddings import EMBEDDINGS
from llmaas.gateway.moderations import MODERATIONS
from llmaas.gateway.pipeline import Family
from llmaas.gateway.rerank import RERANK
from llmaas.gateway.responses import RESPONSES
from llmaas.wire.moderations import ModerationRequest
from llmaas.wire.requests import (
    ChatCompletionRequest,
    CompletionRequest,
    EmbeddingRequest,
    RerankRequest,
)
from llmaas.wire.responses_api import CreateResponseRequest


class Body(Protocol):
    """What a JSON wire model gives this module: validation, and the model it asks for."""

    @property
    def model(self) -> str: ...

    @classmethod
    def model_validate_json(cls, json_data: bytes) -> Self: ...


BodyT = TypeVar("BodyT", bound=Body)


@dataclass(frozen=True)
class Endpoint(Generic[BodyT]):
    operation: str  # its OpenAPI operationId
    summary: str
    body: type[BodyT]
    family: Family[BodyT]  # what the gateway does with it

    @property
    def path(self) -> str:
        return self.family.endpoint


ENDPOINTS: dict[str, Endpoint[Any]] = {endpoint.path: endpoint for endpoint in (
    Endpoint("createChatCompletion", "Create a chat completion", ChatCompletionRequest, CHAT),
    Endpoint("createCompletion", "Create a text completion", CompletionRequest, COMPLETIONS),
    Endpoint("createEmbedding", "Create embeddings", EmbeddingRequest, EMBEDDINGS),
    Endpoint("rerank", "Rerank documents by relevance to a query", RerankRequest, RERANK),
    Endpoint("createModeration", "Classify text for prompt injection", ModerationRequest, MODERATIONS),
    Endpoint("createResponse", "Create a model response (stateless)", CreateResponseRequest, RESPONSES),
)}


class OpenAIEndpoints:
    """ASGI middleware: requests for `ENDPOINTS` are answered here, all others go on to `app`.

    It runs inside `RequestContext`, which has set the request id, limits the body and logs."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = ENDPOINTS.get(scope["path"]) if scope["type"] == "http" else None
        if endpoint is None:
            await self.app(scope, receive, send)
            return
        known = facts(scope)
        known.endpoint = endpoint.path
        try:
            response = await _answer(endpoint, scope, receive, known)
        except ClientDisconnect:
            known.status = 499  # for the access log and metrics: the client closed it
            return
        except LlmaasError as error:
            response = platform_error(error)
        except HTTPException as error:
            response = http_error(error)
        except Exception as error:
            response = unexpected_error(error)
        await response(scope, receive, send)


def _parsed(body: bytes) -> object:
    """The body as JSON, for naming the parameter an error is about; None if it is not JSON."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None


async def _answer(
    endpoint: Endpoint[BodyT], scope: Scope, receive: Receive, known: RequestFacts
) -> Response:
    if scope["method"] != "POST":
        raise HTTPException(405, "Method Not Allowed", headers={"Allow": "POST"})
    app = scope["app"]
    key = await authenticate(app.state.keys, header(scope, b"authorization"),
                             failures=app.state.auth_failures, address=client_address(scope))
    known.key_prefix = key.prefix
    body = await _read(receive)
    if not _is_json(header(scope, b"content-type")):
        raise InvalidRequest(
            "The request body must be a JSON object (send Content-Type: application/json).")
    try:
        request = endpoint.body.model_validate_json(body)
    except ValidationError as error:  # only the client's body: any other one is our bug, a 500
        return validation_error(error.errors(include_input=False), _parsed(body))
    gateway: Gateway = app.state.gateway
    known.model = gateway.label(request.model)
    caller = Caller(key=key, request_id=known.request_id)
    return render(await gateway.serve(endpoint.family, request, caller, settle_after=True))


async def _read(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


def _is_json(content_type: str | None) -> bool:
    """As FastAPI decides: no Content-Type, or application/json or any application/*+json."""
    if content_type is None:
        return True
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


_STREAMED: dict[int | str, dict[str, Any]] = {200: {
    "description": "JSON; with `stream: true`, server-sent events: one `data:` chunk per piece of the "
                   "answer, then `data: [DONE]` (/v1/responses: OpenAI's Responses events, each "
                   "with its `event:` line, ending with `response.completed`).",
    # Each event, as OpenAPI 3.1 readers take an event stream's schema (3.2 calls it itemSchema).
    "content": {"text/event-stream": {"schema": {
        "type": "object", "required": ["data"],
        "properties": {"data": {"type": "string", "description": "A JSON chunk, or [DONE] at the end."}},
    }}},
}}


def documented(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """`app.openapi`: FastAPI's schema of its own routes, plus `ENDPOINTS` with their request bodies,
    with OpenAI's error body documented in place of FastAPI's 422 (`openai_errors`)."""

    def route(endpoint: Endpoint[Any]) -> APIRoute:
        async def operation(body: Any) -> None:  # described, never called: OpenAIEndpoints answers
            raise NotImplementedError

        operation.__annotations__ = {"body": endpoint.body, "return": None}
        return APIRoute(endpoint.path, operation, methods=["POST"], summary=endpoint.summary,
                        operation_id=endpoint.operation,
                        responses=_STREAMED if "stream" in endpoint.body.model_fields else None)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = openai_errors(get_openapi(
                title=app.title, version=app.version, summary=app.summary,
                routes=[*(route(endpoint) for endpoint in ENDPOINTS.values()), *app.routes],
            ))
        return app.openapi_schema

    return openapi
