"""What FastAPI's OpenAPI document gets wrong about this server, put right (`openai_errors`).

FastAPI documents a 422 with its own validation body on every operation that takes input, while the
server answers every refusal, validation included, with a 400 or another 4xx carrying OpenAI's
`{"error": {message, type, param, code}}` (api/errors.py). Generated clients and fuzzers read the
document, so it says what the server does.
"""

from __future__ import annotations

from typing import Any

ERROR_SCHEMA: dict[str, Any] = {
    "title": "ErrorResponse",
    "description": "OpenAI's error body, as every refusal and failure carries it.",
    "type": "object",
    "required": ["error"],
    "properties": {"error": {
        "type": "object",
        "required": ["message", "type", "param", "code"],
        "properties": {
            "message": {"type": "string"},
            "type": {"type": "string"},
            "param": {"type": ["string", "null"]},
            "code": {"type": ["string", "null"]},
        },
    }},
}

_ERROR = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}}
_RESPONSES = {
    "400": {"description": "Invalid request: a malformed body, query or parameter.", **_ERROR},
    "4XX": {"description": "Refused: no or a wrong key, not allowed, not found, a conflict, too large, "
            "or over a rate limit or budget (429, with retry-after when waiting helps).", **_ERROR},
    "5XX": {"description": "The platform or an engine failed, or is full (503, retryable).", **_ERROR},
}
_METHODS = {"get", "put", "post", "patch", "delete"}


def openai_errors(document: dict[str, Any]) -> dict[str, Any]:
    """Document OpenAI's error body on every operation, in place of FastAPI's 422 (`document`, changed)."""
    for operations in document.get("paths", {}).values():
        for method, operation in operations.items():
            if method not in _METHODS:
                continue
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            for status, response in _RESPONSES.items():
                responses.setdefault(status, response)
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):  # only FastAPI's 422 referred to them
        schemas.pop(unused, None)
    schemas["ErrorResponse"] = ERROR_SCHEMA
    return document
