"""OpenAI's error body, `{"error": {message, type, param, code}}`, as JSON and as an SSE event.

Every error answer is built here: the gateway's (api/errors.py), the one event that ends a broken
stream (gateway/streams.py) and the embedded workers' (engines/workers/common.py).

    error_json("Invalid value for 'n'.", type="invalid_request_error", param="n")
    error_event("The engine stopped before finishing the answer.", code="upstream_error")
"""

from __future__ import annotations

from typing import Any

import orjson


def error_body(
    message: str, *, type: str, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    """The body as a dict, for a response class that serialises it."""
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def error_json(message: str, *, type: str, param: str | None = None, code: str | None = None) -> bytes:
    return orjson.dumps(error_body(message, type=type, param=param, code=code))


def error_event(
    message: str, *, type: str = "server_error", param: str | None = None, code: str | None = None
) -> bytes:
    """One server-sent event carrying the error, blank line included: how a stream that already
    answered 200 says it failed."""
    return b"data: " + error_json(message, type=type, param=param, code=code) + b"\n\n"
