"""One structured, content-free log line per request, and tracebacks that quote no request."""

from __future__ import annotations

import logging
import traceback

import orjson

from llmaas.observability.text import printable

LOG_FORMAT = "%(asctime)s %(name)s %(levelname)s %(message)s"
access_log = logging.getLogger("llmaas.access")
# What an access-log line carries, and all it carries (the sovereignty report lists them).
ACCESS_LOG_FIELDS = ("request_id", "method", "path", "status", "duration_ms", "key", "model")
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
                "path": printable(path, MAX_LOGGED_PATH),
                "status": status,
                "duration_ms": round(duration_ms, 2),
                "key": key_prefix,
                "model": model,
            }
        ).decode()
    )


class ContentFreeFormatter(logging.Formatter):
    """Logs a traceback's frames and exception types, never an exception's message: a message may
    quote what a client sent (pydantic's `input_value=`, a KeyError's key, a decoding error's bytes).
    Messages of OSError (a refused connection, an address in use) are the machine's, and are kept.

    `llmaas serve` and the engine workers format every log line with it, uvicorn's included."""

    def format(self, record: logging.LogRecord) -> str:
        # logging caches a record's traceback text: another handler's, with the messages, or ours.
        cached, record.exc_text = record.exc_text, None
        try:
            return super().format(record)
        finally:
            record.exc_text = cached

    def formatException(self, ei: logging._SysExcInfoType) -> str:
        return content_free_traceback(ei[1])


def content_free_traceback(error: BaseException | None) -> str:
    """The chain of exceptions that led to `error` (its causes first, as Python prints them), each
    with its frames and its type."""
    chain: list[BaseException] = []
    while error is not None and all(error is not seen for seen in chain):
        chain.append(error)
        error = error.__cause__ or (None if error.__suppress_context__ else error.__context__)
    parts = []
    for link in reversed(chain):
        kind = f"{type(link).__module__}.{type(link).__qualname__}"
        said = str(link) if isinstance(link, OSError) else "(message withheld: it may quote a request)"
        frames = "".join(traceback.format_tb(link.__traceback__))
        parts.append(f"Traceback (most recent call last):\n{frames}{kind}: {said}")
    return "\n\nwhich led to:\n\n".join(parts)


def content_free_handler() -> logging.Handler:
    """A handler to stderr with ContentFreeFormatter, for logging.basicConfig(handlers=...)."""
    handler = logging.StreamHandler()
    handler.setFormatter(ContentFreeFormatter(LOG_FORMAT))
    return handler


def configure_logging(level: str) -> None:
    """The platform's own loggers at `level`; other libraries' at INFO at most, whatever `level`: their
    DEBUG output (SQLAlchemy's statement parameters and rows, HTTP clients' exchanges) is not ours to
    keep free of secrets and content. Tracebacks are logged without exception messages, which may
    quote a request. httpx logs every URL it fetches at INFO, some of them a tenant's (its identity
    provider's endpoints): warnings only. `llmaas serve` calls it, and so does each of its workers."""
    logging.basicConfig(level=max(logging.getLevelName(level), logging.INFO),
                        handlers=[content_free_handler()])
    logging.getLogger("llmaas").setLevel(level)
    logging.getLogger("httpx").setLevel(logging.WARNING)
