"""schemathesis over the served OpenAPI document: every `/v1` and `/admin/api` operation, authenticated,
against a gateway on loopback in front of the fake engine. No answer may be a 5xx, and every answer must
be one the document promises, in the shape it promises.

The run is bounded: `EXAMPLES` cases per operation, valid and invalid (over 1,000 in all, 15 to 30 s),
on SQLite and again on PostgreSQL (the admin API's writes and reads meet each database's own errors),
derandomised so that `make test` sees the same cases each time, with no shrinking and no example
database. No operation is left out: the destructive admin ones (revoke, rotate, catalog overrides) run
after the `/v1` ones in document order, and cannot reach the key the run uses, whose prefix is random.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from llmaas.app import create_app
from llmaas.auth import KeyService
from llmaas.settings import Settings
from tests.databases import KINDS, fresh_database
from tests.fakes import FakeEngine
from tests.gateway.conftest import catalog_for
from tests.servers import serve

ADMIN_TOKEN = "fuzz-admin-token-0123456789-abcdefghij"
EXAMPLES = 50
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]


class Gateway:
    def __init__(self, url: str, key: str) -> None:
        self.url = url
        self.key = key
        self.cases = 0

    def headers(self, path: str) -> dict[str, str]:
        secret = ADMIN_TOKEN if path.startswith("/admin/api") else self.key
        return {"Authorization": f"Bearer {secret}"}


@pytest.fixture(scope="module", params=KINDS)
def gateway(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    home: Path = tmp_path_factory.mktemp("fuzz")
    engine = FakeEngine(model="upstream-name")
    settings = Settings(home=home, admin_token=ADMIN_TOKEN, max_request_bytes=64 * 1024,
                        max_audio_bytes=32 * 1024, health_interval_s=0.2, ledger_flush_interval_s=0.05)
    admin_url = request.getfixturevalue("postgres_admin_url") if request.param == "postgresql" else None
    database = fresh_database(request.param, sqlite_dir=home, postgres_admin_url=admin_url)
    secret = KeyService(database).create(name="fuzz").secret
    with serve(engine.app()) as engine_url:
        app = create_app(settings, catalog=catalog_for(engine_url), database=database)
        with serve(app) as url:
            yield Gateway(url, secret)
    database.dispose()


@pytest.fixture(scope="module")
def api_schema(gateway: Gateway) -> Any:
    document = httpx.get(f"{gateway.url}/openapi.json").raise_for_status().json()
    schema = schemathesis.openapi.from_dict(document)
    schema.config.update(base_url=gateway.url)
    return schema.include(path_regex=r"^/(v1|admin/api)/")


def test_the_served_document_holds(gateway: Gateway, api_schema: Any) -> None:
    # One test over all operations, each its own hypothesis run: schemathesis' lazy pytest fixtures
    # (`from_fixture`) rely on pytest internals that pytest 9 removed.
    failures = []
    for result in api_schema.get_all_operations():
        operation = result.ok()
        try:
            _fuzz(operation, gateway)
        except (Exception, BaseExceptionGroup) as error:  # one operation's failure must not hide the others'
            failures.append(f"{operation.method.upper()} {operation.path}: {error}")
    assert not failures, "\n\n".join(failures)
    assert gateway.cases >= 1000, gateway.cases


def _with_a_served_model(case: schemathesis.Case[Any], model: str | None) -> schemathesis.Case[Any]:
    # A generated model name is never in the catalog, so without this every case would stop at a
    # 404 before the gateway does anything: four cases in five name one the catalog serves.
    if model is not None:
        if isinstance(case.body, dict) and "model" in case.body:
            case.body["model"] = model
        if case.path_parameters and "model_id" in case.path_parameters:
            case.path_parameters["model_id"] = model
        if case.path_parameters and "alias" in case.path_parameters:
            case.path_parameters["alias"] = "chat-default"
    return case


# Valid requests that random generation seldom writes, streams above all: their answers are checked
# against the document too.
VALID: dict[str, list[dict[str, Any]]] = {
    "/v1/chat/completions": [
        {"model": "chat-model", "messages": [{"role": "user", "content": "Hi"}]},
        {"model": "chat-model", "messages": [{"role": "user", "content": "Hi"}], "stream": True,
         "stream_options": {"include_usage": True}},
        {"model": "chat-model", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 1,
         "temperature": 0},
    ],
    "/v1/completions": [
        {"model": "base-model", "prompt": "Once"},
        {"model": "base-model", "prompt": ["Once"], "stream": True},
    ],
    "/v1/embeddings": [
        {"model": "embed-model", "input": "a"},
        {"model": "embed-model", "input": ["a", "b"], "encoding_format": "base64"},
    ],
    "/v1/rerank": [{"model": "embed-model", "query": "q", "documents": ["a", "b"], "top_n": 1}],
}


def _fuzz(operation: Any, gateway: Gateway) -> None:
    for body in VALID.get(operation.path, []):
        gateway.cases += 1
        case = operation.Case(body=body, media_type="application/json")
        response = case.call_and_validate(headers=gateway.headers(case.path), checks=CHECKS)
        assert response.status_code == 200, response.text

    models = st.sampled_from([None, "chat-model", "base-model", "embed-model", "vision-model"])

    generated = st.one_of(operation.as_strategy(GenerationMode.POSITIVE),
                          operation.as_strategy(GenerationMode.NEGATIVE))

    @given(case=st.builds(_with_a_served_model, generated, models))
    @settings(max_examples=EXAMPLES, deadline=timedelta(seconds=5), derandomize=True, database=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    def run(case: schemathesis.Case[Any]) -> None:
        gateway.cases += 1
        case.call_and_validate(headers=gateway.headers(case.path), checks=CHECKS)

    run()
