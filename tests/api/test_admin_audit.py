"""The audit log through the admin API: each write leaves exactly one row, refused ones too, with no
secret in it; GET /admin/api/audit filters and exports CSV. On SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from llmaas.audit import AuditLog
from tests.api.replicas import TOKEN, Replica, file_catalog, replica
from tests.fakes import FakeEngine
from tests.servers import serve

UPSTREAM_SECRET = "sk-upstream-never-in-the-audit-log"


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    with serve(FakeEngine(model="fake").app()) as url:
        yield url


@pytest.fixture
def gateway(database: Engine, tmp_path: Path, upstream: str) -> Iterator[Replica]:
    with replica(database, tmp_path, file_catalog(upstream)) as running:
        yield running


def _one_row(gateway: Replica, method: str, path: str, body: object = None) -> tuple[httpx.Response, Any]:
    """Make one admin call; return its response and the one audit row it left."""
    before = gateway.admin("GET", "/audit").json()
    response = gateway.admin(method, path, json=body)
    after = gateway.admin("GET", "/audit").json()
    assert len(after) == len(before) + 1, (method, path, response.text)
    return response, after[0]


def _row(row: dict[str, Any]) -> tuple[Any, ...]:
    return row["action"], row["target_type"], row["target"], row["outcome"], row["error_code"], row["details"]


def test_every_admin_write_leaves_one_row(gateway: Replica, upstream: str, database: Engine) -> None:
    made, row = _one_row(gateway, "POST", "/tiers", {"name": "pilot", "monthly_cap_eur": 10,
                                                     "guardrail": "block"})
    assert made.status_code == 201
    assert _row(row) == ("tier.create", "tier", "pilot", "ok", None,
                         {"fields": ["guardrail", "monthly_cap_eur", "name"]})
    assert (row["actor"], row["source"]) == ("admin-token", "127.0.0.1")
    assert abs(datetime.fromisoformat(row["created_at"]) - datetime.now(UTC)) < timedelta(minutes=1)

    _, row = _one_row(gateway, "PATCH", "/tiers/pilot", {"requests_per_minute": 30})
    assert _row(row) == ("tier.update", "tier", "pilot", "ok", None, {"fields": ["requests_per_minute"]})
    _, row = _one_row(gateway, "POST", "/tenants", {"name": "acme", "tier": "pilot"})
    assert _row(row) == ("tenant.create", "tenant", "acme", "ok", None, {"fields": ["name", "tier"]})
    _, row = _one_row(gateway, "PATCH", "/tenants/acme", {"prepaid_credit_eur": 5})
    assert _row(row) == ("tenant.update", "tenant", "acme", "ok", None, {"fields": ["prepaid_credit_eur"]})

    created, row = _one_row(gateway, "POST", "/keys", {"name": "bot", "tenant": "acme", "guardrail": "off"})
    prefix, secret = created.json()["prefix"], created.json()["secret"]
    assert _row(row) == ("key.create", "key", prefix, "ok", None,
                         {"tenant": "acme", "name": "bot", "fields": ["guardrail", "name", "tenant"]})
    _, row = _one_row(gateway, "PATCH", f"/keys/{prefix}", {"guardrail": "block"})
    assert _row(row) == ("key.update", "key", prefix, "ok", None, {"fields": ["guardrail"]})
    rotated, row = _one_row(gateway, "POST", f"/keys/{prefix}/rotate", {"grace_seconds": 60})
    new_prefix, new_secret = rotated.json()["prefix"], rotated.json()["secret"]
    assert _row(row) == ("key.rotate", "key", prefix, "ok", None,
                         {"grace_seconds": 60, "new_prefix": new_prefix})
    _, row = _one_row(gateway, "POST", f"/keys/{new_prefix}/revoke")
    assert _row(row) == ("key.revoke", "key", new_prefix, "ok", None, {})

    upstreams = [{"url": f"{upstream}/v1", "model": "fake", "api_key": UPSTREAM_SECRET}]
    _, row = _one_row(gateway, "PUT", "/catalog/models/chat-b/override", {"upstreams": upstreams})
    assert _row(row) == ("catalog.override.set", "model", "chat-b", "ok", None, {"fields": ["upstreams"]})
    _, row = _one_row(gateway, "PATCH", "/catalog/models/chat-b/override", {"description": "B"})
    assert _row(row) == ("catalog.override.update", "model", "chat-b", "ok", None,
                         {"fields": ["description"]})
    _, row = _one_row(gateway, "DELETE", "/catalog/models/chat-b/override")
    assert _row(row) == ("catalog.override.clear", "model", "chat-b", "ok", None, {})
    _, row = _one_row(gateway, "PUT", "/catalog/aliases/fast", {"model": "chat-b"})
    assert _row(row) == ("catalog.alias.set", "alias", "fast", "ok", None, {"model": "chat-b"})
    _, row = _one_row(gateway, "DELETE", "/catalog/aliases/fast")
    assert _row(row) == ("catalog.alias.remove", "alias", "fast", "ok", None, {})
    reloaded, row = _one_row(gateway, "POST", "/catalog/reload")
    assert reloaded.status_code == 200
    assert _row(row) == ("catalog.reload", "catalog", "catalog", "ok", None,
                         {"revision": reloaded.json()["revision"]})

    stored = json.dumps([vars(e) for e in AuditLog(database).entries()], default=str)
    for never in (secret, new_secret, TOKEN, UPSTREAM_SECRET):
        assert never not in stored
    assert AuditLog(database).verify().ok


def test_a_refused_write_leaves_a_refused_row(gateway: Replica) -> None:
    missing, row = _one_row(gateway, "POST", "/tenants", {"name": "acme", "tier": "platinum"})
    assert missing.status_code == 404
    assert _row(row)[:5] == ("tenant.create", "tenant", "acme", "refused", "not_found")
    gateway.admin("POST", "/tenants", json={"name": "acme", "tier": "standard"})
    taken, row = _one_row(gateway, "POST", "/tenants", {"name": "acme", "tier": "standard"})
    assert taken.status_code == 409 and _row(row)[3:5] == ("refused", "conflict")
    _, row = _one_row(gateway, "POST", "/keys/sk-llmaas-nothing0/revoke")
    assert _row(row)[:5] == ("key.revoke", "key", "sk-llmaas-nothing0", "refused", "not_found")
    bad, row = _one_row(gateway, "PUT", "/catalog/models/chat-a/override", {"context_length": -1})
    assert bad.status_code == 400
    assert _row(row) == ("catalog.override.set", "model", "chat-a", "refused", "invalid_request",
                         {"fields": ["context_length"]})


def test_field_names_a_client_made_up_are_counted_not_stored(gateway: Replica) -> None:
    # A NUL, control characters and names no model has: the write is refused, the row keeps only the
    # names the catalog knows, and the log still lists (PostgreSQL refuses NUL in text).
    body = {"context_length": -1, "colour\x00": "red", "\x1b[31m" + "x" * 5000: 1}
    bad, row = _one_row(gateway, "PATCH", "/catalog/models/chat-a%1b/override", body)
    assert bad.status_code in (400, 404), bad.text
    assert row["target"] == "chat-a\ufffd"
    assert row["details"] == {"fields": ["context_length"], "unknown_fields": 2}
    assert gateway.admin("GET", "/audit").status_code == 200


def test_a_request_refused_before_the_write_leaves_no_row(gateway: Replica) -> None:
    assert gateway.admin("POST", "/tenants", json={"name": "x", "tier": "standard"}, token="wrong"
                         ).status_code == 401
    assert gateway.admin("POST", "/tenants", json={"tier": "standard"}).status_code in (400, 422)
    assert gateway.admin("GET", "/audit").json() == []


def test_filters_and_csv(gateway: Replica) -> None:
    gateway.admin("POST", "/tenants", json={"name": "acme", "tier": "standard"})
    gateway.admin("POST", "/keys", json={"name": "bot", "tenant": "acme"})
    gateway.admin("POST", "/keys/sk-llmaas-nothing0/revoke")

    def actions(**params: str) -> list[str]:
        response = httpx.get(f"{gateway.url}/admin/api/audit", params=params,
                             headers={"Authorization": f"Bearer {TOKEN}"})
        assert response.status_code == 200, response.text
        return [row["action"] for row in response.json()]

    assert actions() == ["key.revoke", "key.create", "tenant.create"]
    assert actions(action="key") == ["key.revoke", "key.create"]
    assert actions(action="tenant.create") == ["tenant.create"]
    assert actions(actor="admin-token", limit="1") == ["key.revoke"]
    assert actions(actor="cli:nobody") == []
    assert actions(since=(datetime.now(UTC) + timedelta(days=1)).date().isoformat()) == []
    assert len(actions(since=datetime.now(UTC).date().isoformat())) == 3
    assert httpx.get(f"{gateway.url}/admin/api/audit").status_code == 401

    for params, accept in (({"format": "csv", "action": "key"}, "*/*"), ({"action": "key"}, "text/csv")):
        response = httpx.get(f"{gateway.url}/admin/api/audit", params=params,
                             headers={"Authorization": f"Bearer {TOKEN}", "Accept": accept})
        assert response.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(response.text)))
        assert [(r["action"], r["outcome"], r["error_code"]) for r in rows] == [
            ("key.revoke", "refused", "not_found"), ("key.create", "ok", "")]
        assert json.loads(rows[1]["details"])["tenant"] == "acme" and len(rows[1]["hash"]) == 64
