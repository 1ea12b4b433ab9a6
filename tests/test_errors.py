"""One error tree: what joins it, and that errors for the platform's own parts never reach a client."""

from __future__ import annotations

import logging

import orjson
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from llmaas.api.errors import install_error_handlers, platform_error
from llmaas.catalog.catalog import CatalogError
from llmaas.catalog.overrides import OverrideError, OverridesUnavailable
from llmaas.engines.workers.common import WorkerError, error_response
from llmaas.errors import InternalError, LlmaasError
from llmaas.metering import BudgetUnseeded
from llmaas.wire.errors import error_json

GENERIC_500 = {"error": {"message": "The server had an error processing your request.",
                         "type": "server_error", "param": None, "code": None}}


@pytest.mark.parametrize("error", [CatalogError, OverrideError, OverridesUnavailable, BudgetUnseeded])
def test_internal_errors_are_in_the_tree(error: type[Exception]) -> None:
    assert issubclass(error, InternalError) and issubclass(error, LlmaasError)


def test_a_catalog_error_is_still_a_value_error() -> None:
    with pytest.raises(ValueError, match="twice"):
        raise CatalogError("the catalog lists a model id twice")


def test_a_worker_error_carries_its_own_status() -> None:
    error = WorkerError("input must not be empty.", param="input")
    assert (error.status_code, error.type, error.param, error.code) == (400, "invalid_request_error", "input",
                                                                        None)
    assert isinstance(error, LlmaasError) and not isinstance(error, InternalError)


def test_an_internal_error_is_answered_as_an_unexpected_one(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="llmaas.api.errors"):
        response = platform_error(OverridesUnavailable("catalog overrides unreadable (OperationalError)"))
    assert (response.status_code, orjson.loads(response.body)) == (500, GENERIC_500)
    assert caplog.messages == ["unhandled OverridesUnavailable"]


def test_an_internal_error_in_a_route_is_a_logged_500_without_its_message() -> None:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/catalog")
    async def catalog() -> None:
        raise CatalogError("the catalog with the overrides in the database: secret detail")

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/catalog")
    assert (response.status_code, response.json()) == (500, GENERIC_500)
    with TestClient(app) as client, pytest.raises(CatalogError):  # as any unexpected failure: re-raised
        client.get("/catalog")


def test_a_worker_answers_in_the_same_shape() -> None:
    response = error_response(WorkerError("The model failed on this request.", status_code=500,
                                          type="server_error"))
    assert response.status_code == 500
    assert bytes(response.body) == error_json("The model failed on this request.", type="server_error")
