"""What every embedded worker shares: its command line, OpenAI-shaped errors and the server loop."""

from __future__ import annotations

import argparse
import hmac
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from llmaas.engines.supervisor import forbid_core_dumps
from llmaas.errors import LlmaasError, upload_refused
from llmaas.observability.logs import content_free_handler
from llmaas.wire.errors import error_body
from llmaas.wire.multipart import FormError

ENGINE_KEY_VARIABLE = "LLMAAS_ENGINE_API_KEY"  # the secret a worker answers to, from its environment


@dataclass(frozen=True)
class WorkerOptions:
    model_dir: Path
    model_id: str
    host: str
    port: int
    threads: int


def parse_options(argv: list[str] | None = None, *, description: str) -> WorkerOptions:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--model-dir", type=Path, required=True)
    parser.add_argument("--model-id", required=True, help="the id clients and the gateway use")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    return WorkerOptions(args.model_dir, args.model_id, args.host, args.port, args.threads)


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY)


class WorkerError(LlmaasError):
    """A client error the worker answers in OpenAI's error shape; status and type are set per error."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int = 400,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message, param=param, code=code)
        self.status_code = status_code
        self.type = type


def error_response(error: LlmaasError) -> JSONResponse:
    body = error_body(error.message, type=error.type, param=error.param, code=error.code)
    return JSONResponse(body, status_code=error.status_code)


async def handle_worker_error(request: Request, exc: Exception) -> Response:
    """Renders WorkerError, the platform's own errors, and the upload parser's."""
    if isinstance(exc, FormError):
        exc = upload_refused(exc)
    assert isinstance(exc, LlmaasError)
    return error_response(exc)


class RequireKey:
    """Every request must carry `Authorization: Bearer <key>` (401 otherwise): the worker listens on
    loopback, which every user of the machine can reach; only the gateway has the key."""

    def __init__(self, app: ASGIApp, key: str) -> None:
        self.app = app
        self._expected = f"Bearer {key}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            given = next((value for name, value in scope["headers"] if name == b"authorization"), b"")
            if not hmac.compare_digest(given, self._expected):
                refused = WorkerError("Invalid API key.", status_code=401, code="invalid_api_key")
                await error_response(refused)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def serve(app: Starlette, options: WorkerOptions) -> None:
    """Run the worker until SIGTERM. Access logs stay off: they would be noise, never content. With
    `LLMAAS_ENGINE_API_KEY` set (`llmaas serve` sets it), only requests carrying it are answered."""
    # Tracebacks without exception messages, which may quote a request; uvicorn's too.
    logging.basicConfig(level=logging.INFO, handlers=[content_free_handler()])
    forbid_core_dumps()  # inherited from `llmaas serve` already; a worker started alone too
    key = os.environ.pop(ENGINE_KEY_VARIABLE, None)
    uvicorn.run(
        app if not key else RequireKey(app, key),
        host=options.host,
        port=options.port,
        access_log=False,
        log_level="warning",
        log_config=None,
        loop="uvloop",
        http="httptools",
    )


def model_routes(model_id: str) -> list[Route]:
    """`/health` and `/v1/models`, as a worker serving one model answers them."""

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def models(request: Request) -> JSONResponse:
        card = {"id": model_id, "object": "model", "created": 0, "owned_by": "llmaas"}
        return JSONResponse({"object": "list", "data": [card]})

    return [Route("/health", health), Route("/v1/models", models)]
