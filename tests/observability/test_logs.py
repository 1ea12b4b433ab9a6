"""Tracebacks in the log keep their frames and types and drop exception messages, which may quote a
request: pydantic's `input_value=`, through the gateway's 500 handler and uvicorn's own error log."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel

from llmaas.api.errors import install_error_handlers
from llmaas.observability.logs import LOG_FORMAT, ContentFreeFormatter, content_free_traceback
from tests.servers import serve

CANARY = "canary-7f3e9b1c"


class Body(BaseModel):
    n: int


def failing() -> None:
    try:
        Body.model_validate({"n": CANARY})
    except ValueError as error:
        raise RuntimeError(f"while reading {CANARY}") from error


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """What the root logger writes, formatted as `llmaas serve` formats it."""
    text = io.StringIO()
    handler = logging.StreamHandler(text)
    handler.setFormatter(ContentFreeFormatter(LOG_FORMAT))
    root, uvicorn = logging.getLogger(), logging.getLogger("uvicorn")
    # As in `llmaas serve`, where nothing configured uvicorn's loggers: an earlier test's server may
    # have given them uvicorn's own handlers (its default log_config), which stop at "uvicorn".
    kept = uvicorn.handlers[:], uvicorn.propagate
    uvicorn.handlers, uvicorn.propagate = [], True
    root.addHandler(handler)
    try:
        yield text
    finally:
        root.removeHandler(handler)
        uvicorn.handlers, uvicorn.propagate = kept


def test_a_traceback_keeps_frames_and_types_not_messages() -> None:
    with pytest.raises(RuntimeError) as caught:
        failing()
    written = content_free_traceback(caught.value)
    assert CANARY not in written
    assert "pydantic_core._pydantic_core.ValidationError" in written and "builtins.RuntimeError" in written
    assert written.index("ValidationError") < written.index("RuntimeError")  # causes first, as Python
    assert "in failing" in written and "message withheld" in written


def test_the_messages_of_os_errors_are_kept() -> None:
    try:
        raise ConnectionRefusedError(111, "Connection refused")
    except OSError as error:
        assert "Connection refused" in content_free_traceback(error)


def test_a_500_logs_no_input_through_the_gateway_and_uvicorn(captured: io.StringIO) -> None:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/fails")
    async def fails() -> None:
        failing()

    with serve(app, log_config=None) as url:  # as `llmaas serve` runs uvicorn: its loggers are ours
        assert httpx.get(f"{url}/fails").status_code == 500
    written = captured.getvalue()
    assert "unhandled RuntimeError" in written and "Exception in ASGI application" in written
    assert "ValidationError" in written and CANARY not in written
