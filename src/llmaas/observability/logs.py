"""One structured, content-free log line per request."""

from __future__ import annotations

import logging

import orjson

access_log = logging.getLogger("llmaas.access")
MAX_LOGGED_PATH = 256  # characters: a client chooses the path, up to the server's line limit


def log_request(
    *,
    request_id: str,
    method: str,
    path: str,
    status: int,
    duration_ms: float,
    key_prefix: str | None,
    model: str | None,
) -> None:
    # Only metadata: a body, a header value or a query string could carry content or secrets.
    access_log.info(
        orjson.dumps(
            {
                "request_id": request_id,
                "method": method,
                "path": path if len(path) <= MAX_LOGGED_PATH else path[:MAX_LOGGED_PATH] + "…",
                "status": status,
                "duration_ms": round(duration_ms, 2),
                "key": key_prefix,
                "model": model,
            }
        ).decode()
    )
