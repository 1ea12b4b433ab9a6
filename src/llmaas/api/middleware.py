"""Per-request context as a plain ASGI middleware: request id, body-size limit, metrics, access log,
and HSTS on HTTPS."""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from llmaas.api.errors import error_response
from llmaas.observability.logs import log_request
from llmaas.observability.metrics import Metrics

_SAFE_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")  # a client's id, as logged and stored in the ledger
_UNMETERED = ("/health", "/ready", "/metrics", "/docs", "/openapi.json", "/static")
_SCOPE_KEY = "llmaas"  # the one entry of the ASGI scope's "state" (Starlette's `request.state`) used


@dataclass(slots=True)
class RequestFacts:
    """What one request's handlers learn, for its access-log line and its metrics; never content."""

    request_id: str
    endpoint: str | None = None  # a plain-ASGI endpoint's path (FastAPI's routes are read from the scope)
    model: str | None = None  # a catalog model's name or "unknown" (Gateway.label), never the client's text
    key_prefix: str | None = None
    status: int | None = None  # when no response was sent: 499, the client left


def facts(scope: Scope) -> RequestFacts:
    """The request's facts, as `RequestContext` put them in its scope."""
    found: RequestFacts = scope["state"][_SCOPE_KEY]
    return found


def request_facts(request: Request) -> RequestFacts:
    return facts(request.scope)


# Two years, subdomains included: browsers then refuse plain HTTP to this host (RFC 6797). Sent over
# HTTPS only (our own TLS, or a trusted proxy's X-Forwarded-Proto), where browsers heed it.
HSTS = (b"strict-transport-security", b"max-age=63072000; includeSubDomains")


class RequestContext:
    def __init__(self, app: ASGIApp, *, metrics: Metrics, max_body_bytes: int) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        given = header(scope, b"x-request-id")
        # A client's id is echoed only when it is plainly an id: it ends up in logs.
        request_id = given if given and _SAFE_ID.fullmatch(given) else f"req_{os.urandom(16).hex()}"
        known = RequestFacts(request_id)
        scope.setdefault("state", {})[_SCOPE_KEY] = known
        added = [(b"x-request-id", request_id.encode())]
        if scope.get("scheme") == "https":
            added.append(HSTS)
        status: int | None = None  # until a response starts

        declared = header(scope, b"content-length")
        if declared and declared.isdigit() and int(declared) > self.max_body_bytes:
            response = error_response(
                413, self._too_large(), type="invalid_request_error", code="request_too_large",
                headers={name.decode(): value.decode() for name, value in added},
            )
            await response(scope, receive, send)
            return

        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:  # a chunked body with no declared length
                    raise HTTPException(413, self._too_large())
            return message

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), *added]
            await send(message)

        try:
            await self.app(scope, limited_receive, send_with_id)
        finally:
            path: str = scope["path"]
            if status is None:  # no response: the client left (499) or the app failed (500)
                status = known.status or 500
            if not path.startswith(_UNMETERED):
                model = known.model or "-"
                route = scope.get("route")
                endpoint = known.endpoint or (route.path if route is not None else "unmatched")
                elapsed = time.perf_counter() - started
                self.metrics.observe_request(endpoint, model, status, elapsed)
                log_request(
                    request_id=request_id, method=scope["method"], path=path, status=status,
                    duration_ms=elapsed * 1000, key_prefix=known.key_prefix, model=known.model,
                )

    def _too_large(self) -> str:
        return f"The request body exceeds the limit of {self.max_body_bytes} bytes."


def header(scope: Scope, name: bytes) -> str | None:
    """A request header's value (the first, as Starlette reads it), for plain ASGI code."""
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None
