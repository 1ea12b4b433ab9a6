"""What every embedded worker shares: it answers only the gateway, which holds its secret."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from llmaas.engines.workers import common


async def models(request: Request) -> JSONResponse:
    return JSONResponse({"object": "list", "data": []})


APP = Starlette(routes=[Route("/v1/models", models)])


def test_a_request_without_the_key_is_refused() -> None:
    client = TestClient(common.RequireKey(APP, "s3cret"))
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"}):
        response = client.get("/v1/models", headers=headers)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "invalid_api_key"
    assert client.get("/v1/models", headers={"Authorization": "Bearer s3cret"}).status_code == 200


def test_serve_requires_the_key_from_its_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    served: list[Any] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **_: served.append(app))
    options = common.WorkerOptions(Path("/m"), "m", "127.0.0.1", 1, 1)
    monkeypatch.setenv("LLMAAS_ENGINE_API_KEY", "s3cret")
    common.serve(APP, options)
    assert isinstance(served[0], common.RequireKey)
    assert "LLMAAS_ENGINE_API_KEY" not in os.environ, "not handed down to child processes"
    common.serve(APP, options)  # started by hand, without a key: open, as before
    assert served[1] is APP
