"""The one place errors become HTTP: OpenAI's `{"error": {message, type, param, code}}` (its body
comes from wire/errors.py), with `retry-after` and `x-should-retry` where they apply."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from llmaas.errors import InternalError, LlmaasError
from llmaas.metering import QuotaExceeded, RateLimited
from llmaas.wire.errors import error_json

log = logging.getLogger(__name__)

_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "request_too_large"}


def error_response(
    status_code: int,
    message: str,
    *,
    type: str,
    param: str | None = None,
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    body = error_json(message, type=type, param=param, code=code)
    return Response(body, status_code, headers, media_type="application/json")


def platform_error(exc: LlmaasError) -> Response:
    if isinstance(exc, InternalError):  # the platform's own trouble: no client should read its message
        return unexpected_error(exc)
    headers = {}
    retry_after = getattr(exc, "retry_after_s", None)
    if retry_after is not None:
        headers["retry-after"] = str(max(1, math.ceil(retry_after)))
        headers["retry-after-ms"] = str(max(1, round(retry_after * 1000)))
    if isinstance(exc, QuotaExceeded) or (isinstance(exc, RateLimited) and retry_after is None):
        # The official SDKs honour it: a spent budget stays spent, and a request bigger than the
        # limit itself never fits.
        headers["x-should-retry"] = "false"
    return error_response(
        exc.status_code, exc.message, type=exc.type, param=exc.param, code=exc.code, headers=headers
    )


def validation_error(errors: Sequence[Any], body: object = None) -> Response:
    """pydantic's errors for a request `body` (FastAPI's locations start with "body", pydantic's not)."""
    first = _most_telling(errors)
    location = list(first.get("loc", ()))
    param = _param(location[1:] if location[:1] == ["body"] else location, body)
    if first.get("type") == "json_invalid":
        message, param = "The request body is not valid JSON.", None
    elif param is None:
        message = "The request body must be a JSON object (send Content-Type: application/json)."
    elif first.get("type") == "missing":
        message = f"Missing required parameter: '{param}'."
    elif first.get("type") == "extra_forbidden":  # OpenAI's words for a field it does not know
        message = f"Unrecognized request argument supplied: {param}"
    else:
        message = f"Invalid value for '{param}': {first.get('msg', 'invalid')}."
    return error_response(400, message, type="invalid_request_error", param=param)


def _most_telling(errors: Sequence[Any]) -> Any:
    """The first error, unless it only says that a value is not a plain string where the field also
    takes a list or an object, and another error says what is wrong inside that (`content[1].type`)."""
    chosen = errors[0]
    while (location := tuple(chosen.get("loc", ()))) and location[-1] == "str":
        field = location[:-1]
        deeper = [e for e in errors if (at := tuple(e.get("loc", ())))[:len(field)] == field
                  and len(at) > len(location)]
        if not deeper:
            break
        chosen = deeper[0]  # itself perhaps a string's branch, one level down: look again
    return chosen


def _param(location: Sequence[str | int], body: object = None) -> str | None:
    """A pydantic location as OpenAI names the parameter: `messages[0].content[1].image_url`. pydantic
    also names union members in it ("str", "list[str]", a tagged union's tag: `content[0].text.text`);
    where the client's `body` is known, a name is kept only if the client sent it, or if it is the
    last one (a missing field)."""
    param, value = "", body
    for at, part in enumerate(location):
        if isinstance(part, int):
            param += f"[{part}]"
            value = value[part] if isinstance(value, list) and 0 <= part < len(value) else None
            continue
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif _is_type_name(part) or (isinstance(value, dict) and at < len(location) - 1):
            continue
        else:
            value = None
        param += f".{part}" if param else part
    return param or None


def _is_type_name(part: str) -> bool:
    """A union member's name: pydantic's ("str", "list[str]", "TextPart"), or the tag of a union
    told apart by the value's type ("str", "object": wire/requests.py's `str_or_object`)."""
    return part in {"str", "int", "float", "bool", "object"} or "[" in part or part.endswith("Part")


def http_error(exc: HTTPException) -> Response:
    message = exc.detail if isinstance(exc.detail, str) else "Request failed."
    return error_response(
        exc.status_code,
        message,
        type="invalid_request_error" if exc.status_code < 500 else "server_error",
        code=_HTTP_CODES.get(exc.status_code),
        headers=dict(exc.headers) if exc.headers else None,
    )


def unexpected_error(exc: Exception) -> Response:
    # The one catch-all: log the failure's type and place, never the request's content.
    log.error("unhandled %s", type(exc).__name__, exc_info=exc)
    return error_response(500, "The server had an error processing your request.", type="server_error")


async def _platform_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LlmaasError)
    if isinstance(exc, InternalError):
        raise exc  # on to the catch-all below, as any unexpected failure: a logged 500
    return platform_error(exc)


async def _validation_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return validation_error(exc.errors(), exc.body)


async def _http_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return http_error(exc)


async def _unexpected(_request: Request, exc: Exception) -> Response:
    return unexpected_error(exc)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(LlmaasError, _platform_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
