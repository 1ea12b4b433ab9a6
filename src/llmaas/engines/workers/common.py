"""What every embedded worker shares: its command line, OpenAI-shaped errors and the server loop."""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response

from llmaas.errors import LlmaasError, upload_refused
from llmaas.wire.errors import error_body
from llmaas.wire.multipart import FormError


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


def serve(app: Starlette, options: WorkerOptions) -> None:
    """Run the worker until SIGTERM. Access logs stay off: they would be noise, never content."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    uvicorn.run(
        app,
        host=options.host,
        port=options.port,
        access_log=False,
        log_level="warning",
        loop="uvloop",
        http="httptools",
    )
