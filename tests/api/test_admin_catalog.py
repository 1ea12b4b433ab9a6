"""The catalog overrides through the admin API: the catalog as served, PUT/PATCH/DELETE of a model's
override and of aliases, every bad input answered in OpenAI's error shape with nothing written."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, date, datetime, time
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from llmaas.catalog.store import OverrideStore
from tests.api.replicas import Replica, file_catalog, replica
from tests.fakes import FakeEngine
from tests.servers import serve

HI = [{"role": "user", "content": "Hi"}]


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    with serve(FakeEngine(model="fake").app()) as url:
        yield url


@pytest.fixture
def gateway(database: Engine, tmp_path: Path, upstream: str) -> Iterator[Replica]:
    # A long poll interval: whatever a test sees right after a write was applied by the write itself.
    with replica(database, tmp_path, file_catalog(upstream), poll_s=60) as running:
        yield running


def assert_openai_error(response: httpx.Response, status: int, param: str | None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert list(body) == ["error"] and set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["type"] == "invalid_request_error" and body["error"]["param"] == param
    error: dict[str, Any] = body["error"]
    return error


def test_the_catalog_as_served_with_its_overrides(gateway: Replica) -> None:
    listed = gateway.admin("GET", "/catalog").json()
    assert listed["revision"] == 0
    assert [(m["id"], m["lifecycle_status"], m["overridden"], m["override"]) for m in listed["models"]] == [
        ("chat-a", "active", [], None), ("chat-b", "active", [], None)]
    assert listed["aliases"] == [{"alias": "default", "model": "chat-a", "source": "file",
                                  "updated_at": None, "updated_by": None}]
    assert listed["models"][0]["entry"]["description"] == "chat-a from the file"


def test_put_replaces_patch_adds_and_delete_reverts(gateway: Replica) -> None:
    put = gateway.admin("PUT", "/catalog/models/chat-a/override", json={
        "description": "Tuned", "max_output_tokens": 1024, "pricing": {"input_per_million_tokens": 3}})
    assert put.status_code == 200, put.text
    body = put.json()
    assert body["overridden"] == ["description", "max_output_tokens", "pricing"]
    assert body["override"]["updated_by"] == "admin-api@127.0.0.1"
    assert body["entry"]["pricing"]["input_per_million_tokens"] == "3"
    assert body["entry"]["pricing"]["output_per_million_tokens"] == "2"  # the file's price stays
    assert gateway.models()["chat-a"]["description"] == "Tuned"

    patched = gateway.admin("PATCH", "/catalog/models/chat-a/override", json={"license": "Apache-2.0"}).json()
    assert patched["overridden"] == ["description", "license", "max_output_tokens", "pricing"]
    replaced = gateway.admin("PUT", "/catalog/models/chat-a/override", json={"license": "BSD"}).json()
    assert replaced["overridden"] == ["license"]
    assert replaced["entry"]["description"] == "chat-a from the file"
    assert gateway.admin("GET", "/catalog").json()["revision"] == 3

    deleted = gateway.admin("DELETE", "/catalog/models/chat-a/override")
    assert deleted.status_code == 200 and deleted.json()["override"] is None
    assert deleted.json()["entry"]["license"] == "MIT"
    assert gateway.models()["chat-a"]["license"] == "MIT"


def test_an_overridden_deprecation_reaches_clients_at_once(gateway: Replica) -> None:
    notice = datetime.now(UTC).date()  # deprecated from today: a notice cannot be backdated
    changed = gateway.admin("PATCH", "/catalog/models/chat-a/override", json={
        "deprecated_at": notice.isoformat(), "retires_at": "2036-06-01", "successor": "chat-b",
        "ip_indemnity": True})
    assert changed.json()["lifecycle_status"] == "deprecated"
    listed = gateway.models()["chat-a"]
    assert (listed["status"], listed["deprecated_at"], listed["retires_at"], listed["successor"]) == (
        "deprecated", notice.isoformat(), "2036-06-01", "chat-b")
    assert listed["ip_indemnity"] is True and gateway.models()["chat-b"]["ip_indemnity"] is False

    raw = gateway.client.chat.completions.with_raw_response.create(model="default", messages=HI)  # type: ignore[arg-type]
    assert raw.parse().choices[0].message.content == "Hello there"
    stamp = int(datetime.combine(notice, time(), UTC).timestamp())
    assert raw.headers["deprecation"] == f"@{stamp}"
    assert parsedate_to_datetime(raw.headers["sunset"]).date() == date(2036, 6, 1)
    assert raw.headers["link"] == '</v1/models/chat-b>; rel="successor-version"'


def test_upstream_keys_are_masked_and_never_logged(gateway: Replica, upstream: str,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    secret = "sk-upstream-very-secret"
    put = gateway.admin("PUT", "/catalog/models/chat-b/override", json={
        "upstreams": [{"url": f"{upstream}/v1", "model": "fake", "api_key": secret}]})
    assert put.status_code == 200, put.text
    shown = gateway.admin("GET", "/catalog").text
    assert secret not in put.text and secret not in shown and "********" in shown
    assert secret not in caplog.text
    [row] = gateway.admin("GET", "/audit").json()  # the write is audited by field name, never by value
    assert (row["action"], row["target"], row["details"]) == (
        "catalog.override.set", "chat-b", {"fields": ["upstreams"]})
    assert secret not in gateway.admin("GET", "/audit", json=None).text
    target = gateway.app.state.served_catalog.router.pools["chat-b"].targets[0]
    assert target.api_key == secret  # and the engine gets it at once
    reply = gateway.client.chat.completions.create(model="chat-b", messages=HI)  # type: ignore[arg-type]
    assert reply.model == "chat-b"


def test_alias_overrides(gateway: Replica) -> None:
    made = gateway.admin("PUT", "/catalog/aliases/fast", json={"model": "chat-b"})
    assert made.status_code == 200 and made.json()["source"] == "override"
    assert gateway.client.chat.completions.create(model="fast", messages=HI).model == "chat-b"  # type: ignore[arg-type]

    assert gateway.admin("DELETE", "/catalog/aliases/default").status_code == 204  # the file's alias
    assert gateway.admin("DELETE", "/catalog/aliases/fast").status_code == 204
    aliases = gateway.admin("GET", "/catalog").json()["aliases"]
    assert [(a["alias"], a["model"], a["source"]) for a in aliases] == [("default", None, "override")]
    assert gateway.models()["chat-a"]["aliases"] == []
    assert httpx.get(f"{gateway.url}/v1/models/default",
                     headers={"Authorization": f"Bearer {gateway.client.api_key}"}).status_code == 404

    back = gateway.admin("PUT", "/catalog/aliases/default", json={"model": "chat-b"})
    assert back.json()["model"] == "chat-b" and gateway.models()["chat-b"]["aliases"] == ["default"]


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "param", "message"),
    [
        ("PUT", "/catalog/models/ghost/override", {"description": "x"}, 404, "model", "`ghost` does not"),
        ("PATCH", "/catalog/models/ghost/override", {"description": "x"}, 404, "model", "does not exist"),
        ("DELETE", "/catalog/models/chat-b/override", None, 404, "model", "has no override"),
        ("PUT", "/catalog/models/chat-a/override",
         {"deprecated_at": "2026-12-01", "retires_at": "2027-01-01"}, 400, None, "2027-03-01 at the"),
        ("PUT", "/catalog/models/chat-a/override", {"deprecated_at": "2026-12-01", "successor": "ghost"},
         400, None, "unknown successor 'ghost'"),
        ("PATCH", "/catalog/models/chat-a/override", {"on_retired": "redirect"}, 400, None, "no successor"),
        ("PUT", "/catalog/models/chat-a/override", {"context_length": "lots"}, 400, "context_length",
         "valid integer"),
        ("PUT", "/catalog/models/chat-a/override", {"max_output_tokens": -5}, 400, "max_output_tokens",
         "greater than 0"),
        ("PATCH", "/catalog/models/chat-a/override", {"pricing": {"input_per_million_tokens": -1}}, 400,
         "pricing", "pricing.input_per_million_tokens"),
        ("PUT", "/catalog/models/chat-a/override", {"status": "gone"}, 400, "status", "status"),
        ("PUT", "/catalog/models/chat-a/override", {"id": "other"}, 400, "id", "cannot be overridden"),
        ("PUT", "/catalog/models/chat-a/override", {"engine": {"kind": "llama", "artifact": "x"}}, 400,
         "engine", "cannot be overridden"),
        ("PUT", "/catalog/models/chat-a/override", {"colour": "red"}, 400, "colour", "no field `colour`"),
        ("PUT", "/catalog/models/chat-a/override", {}, 400, None, "changes nothing"),
        ("PUT", "/catalog/models/chat-a/override", [1], 400, None, "must be a JSON object"),
        ("PUT", "/catalog/models/chat-a/override", b"{not json", 400, None, "not valid JSON"),
        ("PUT", "/catalog/aliases/fast", {"model": "ghost"}, 404, "model", "`ghost` does not exist"),
        ("PUT", "/catalog/aliases/chat-b", {"model": "chat-a"}, 400, "alias", "also a model id"),
        ("PUT", "/catalog/aliases/fast", {}, 400, "model", "Missing required parameter"),
        ("PUT", "/catalog/aliases/fast", {"model": ""}, 400, "model", "at least 1 character"),
        ("PUT", "/catalog/aliases/fast", {"model": "chat-a", "colour": 1}, 400, "colour", "colour"),
        ("PUT", "/catalog/aliases/%20", {"model": "chat-a"}, 400, "alias", "not blank"),
        ("DELETE", "/catalog/aliases/ghost", None, 404, "alias", "No alias named 'ghost'"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_written(
    gateway: Replica, database: Engine, method: str, path: str, body: object, status: int,
    param: str | None, message: str,
) -> None:
    raw = body if isinstance(body, bytes) else None
    response = gateway.admin(method, path, json=None if raw else body, content=raw)
    error = assert_openai_error(response, status, param)
    assert message in error["message"]
    assert OverrideStore(database).revision() == 0
    assert gateway.admin("GET", "/catalog").json()["revision"] == 0


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/catalog"), ("PUT", "/catalog/models/chat-a/override"),
     ("PATCH", "/catalog/models/chat-a/override"), ("DELETE", "/catalog/models/chat-a/override"),
     ("PUT", "/catalog/aliases/fast"), ("DELETE", "/catalog/aliases/default"), ("POST", "/catalog/reload")],
)
def test_the_admin_token_is_required(gateway: Replica, method: str, path: str) -> None:
    response = gateway.admin(method, path, json={"model": "chat-a", "description": "x"}, token="wrong")
    assert response.status_code == 401 and response.json()["error"]["code"] == "invalid_admin_token"
    assert gateway.admin("GET", "/catalog").json()["revision"] == 0
