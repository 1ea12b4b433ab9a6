"""The admin API: operator token, tenancy CRUD, keys issued and revoked, usage as JSON and CSV."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine

from llmaas.app import create_app
from llmaas.catalog import Catalog
from llmaas.metering.ledger import Ledger, UsageRecord
from llmaas.settings import Settings
from llmaas.storage.database import create_database_engine, migrate
from tests.databases import KINDS, fresh_database
from tests.servers import serve

TOKEN = "admin-secret-token-0123456789-abcdef"


@dataclass
class Admin:
    url: str
    database: Engine

    def call(self, method: str, path: str, *, token: str = TOKEN, json: object = None,
             params: dict[str, str] | None = None) -> httpx.Response:
        return httpx.request(method, f"{self.url}/admin/api{path}", json=json, params=params,
                             headers={"Authorization": f"Bearer {token}"})


@pytest.fixture(scope="module", params=KINDS)
def admin(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Admin]:
    home: Path = tmp_path_factory.mktemp("admin")
    settings = Settings(home=home, admin_token=TOKEN)
    admin_url = request.getfixturevalue("postgres_admin_url") if request.param == "postgresql" else None
    database = fresh_database(request.param, sqlite_dir=home, postgres_admin_url=admin_url)
    with serve(create_app(settings, catalog=Catalog([]), database=database)) as url:
        yield Admin(url, database)
    database.dispose()


def test_the_admin_token_is_required(admin: Admin) -> None:
    assert admin.call("GET", "/tiers", token="wrong").status_code == 401
    assert httpx.get(f"{admin.url}/admin/api/tiers").status_code == 401


def test_without_a_token_configured_the_admin_api_is_off(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    database = create_database_engine(settings.resolved_database_url)
    migrate(database)
    with serve(create_app(settings, catalog=Catalog([]), database=database)) as url:
        response = httpx.get(f"{url}/admin/api/tiers", headers={"Authorization": "Bearer anything"})
    assert response.status_code == 403 and response.json()["error"]["code"] == "admin_disabled"


def test_tiers_tenants_and_keys(admin: Admin) -> None:
    tiers = {t["name"]: t for t in admin.call("GET", "/tiers").json()}
    assert set(tiers) == {"discovery", "standard", "business", "enterprise", "custom"}
    assert tiers["standard"]["monthly_cap_eur"] == 200.0

    made = admin.call("POST", "/tiers", json={"name": "pilot", "monthly_cap_eur": 12.5,
                                              "requests_per_minute": 30})
    assert made.status_code == 201 and made.json()["monthly_cap_eur"] == 12.5
    changed = admin.call("PATCH", "/tiers/pilot", json={"requests_per_minute": None})
    assert changed.json()["requests_per_minute"] is None and changed.json()["monthly_cap_eur"] == 12.5

    tenant = admin.call("POST", "/tenants", json={"name": "acme", "tier": "pilot", "prepaid_credit_eur": 100})
    assert tenant.status_code == 201 and tenant.json()["prepaid_credit_eur"] == 100.0
    assert admin.call("POST", "/tenants", json={"name": "acme", "tier": "pilot"}).status_code == 409

    key = admin.call("POST", "/keys", json={"name": "bot", "tenant": "acme", "models": ["m1"],
                                            "monthly_budget_eur": 5})
    assert key.status_code == 201
    body = key.json()
    assert body["secret"].startswith(body["prefix"]) and body["models"] == ["m1"]
    listed = admin.call("GET", "/keys", params={"tenant": "acme"}).json()
    assert [k["prefix"] for k in listed] == [body["prefix"]] and "secret" not in listed[0]

    edited = admin.call("PATCH", f"/keys/{body['prefix']}", json={"models": None, "requests_per_minute": 9,
                                                                  "guardrail": "block"})
    assert edited.status_code == 200, edited.text
    assert edited.json()["models"] is None and edited.json()["requests_per_minute"] == 9
    assert edited.json()["guardrail"] == "block" and edited.json()["monthly_budget_eur"] == 5.0  # kept
    for budget in (None, 5.0):  # null clears it
        again = admin.call("PATCH", f"/keys/{body['prefix']}", json={"monthly_budget_eur": budget})
        assert again.json()["monthly_budget_eur"] == budget and again.json()["requests_per_minute"] == 9

    rotated = admin.call("POST", f"/keys/{body['prefix']}/rotate", json={"grace_seconds": 60}).json()
    assert rotated["prefix"] != body["prefix"] and rotated["monthly_budget_eur"] == 5.0
    revoked = admin.call("POST", f"/keys/{rotated['prefix']}/revoke")
    assert revoked.json()["revoked_at"] is not None
    assert admin.call("POST", f"/keys/{rotated['prefix']}/revoke").status_code == 404


def test_a_keys_guardrail_policy_is_changed_and_seen_at_once(admin: Admin) -> None:
    """PATCH sets the key's own policy or, with null, gives it back its tier's; the key sees it on
    /v1/usage at once (this gateway's key cache forgets the key)."""
    key = admin.call("POST", "/keys", json={"name": "policy-bot"}).json()
    prefix, secret = key["prefix"], key["secret"]

    def seen() -> dict[str, str]:
        usage = httpx.get(f"{admin.url}/v1/usage", headers={"Authorization": f"Bearer {secret}"})
        policy: dict[str, str] = usage.json()["guardrail"]
        return policy

    assert key["guardrail"] is None and seen() == {"policy": "flag", "source": "tier"}
    changed = admin.call("PATCH", f"/keys/{prefix}", json={"guardrail": "block"})
    assert changed.status_code == 200 and changed.json()["guardrail"] == "block"
    assert seen() == {"policy": "block", "source": "key"}
    assert admin.call("PATCH", f"/keys/{prefix}", json={}).json()["guardrail"] == "block", "left out: kept"
    listed = {k["prefix"]: k for k in admin.call("GET", "/keys").json()}
    assert listed[prefix]["guardrail"] == "block"
    assert admin.call("PATCH", f"/keys/{prefix}", json={"guardrail": None}).json()["guardrail"] is None
    assert seen() == {"policy": "flag", "source": "tier"}

    admin.call("POST", f"/keys/{prefix}/revoke")
    assert admin.call("PATCH", f"/keys/{prefix}", json={"guardrail": "off"}).status_code == 404
    assert admin.call("PATCH", f"/keys/{prefix}", json={}).status_code == 404


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "param"),
    [
        ("POST", "/tenants", {"name": "x", "tier": "gold"}, 404, "tier"),
        ("POST", "/tenants", {"name": "", "tier": "standard"}, 400, "name"),
        ("POST", "/tiers", {"name": "t", "monthly_cap_eur": -1}, 400, "monthly_cap_eur"),
        ("POST", "/tiers", {"name": "t", "colour": "red"}, 400, "colour"),
        ("PATCH", "/tenants/ghost", {"tier": "standard"}, 404, "tenant"),
        ("POST", "/keys", {"name": "k", "tenant": "ghost"}, 404, "tenant"),
        ("POST", "/keys", {"name": "k", "requests_per_minute": 0}, 400, "requests_per_minute"),
        ("PATCH", "/keys/sk-llmaas-ghost", {"guardrail": "block"}, 404, "prefix"),
        ("PATCH", "/keys/sk-llmaas-ghost", {"guardrail": "inherit"}, 400, "guardrail"),
        ("PATCH", "/keys/sk-llmaas-ghost", {"requests_per_minute": 0}, 400, "requests_per_minute"),
        # Found by schemathesis: each was a 500 (an overflowing database integer or datetime).
        ("POST", "/tiers", {"name": "huge", "monthly_cap_eur": 6.9e206}, 400, "monthly_cap_eur"),
        ("POST", "/tiers", {"name": "huge", "requests_per_minute": 2**63}, 400, "requests_per_minute"),
        ("PATCH", "/tiers/standard", {"monthly_cap_eur": 9e307}, 400, "monthly_cap_eur"),
        ("POST", "/tenants", {"name": "rich", "tier": "standard", "prepaid_credit_eur": 1e20}, 400,
         "prepaid_credit_eur"),
        ("POST", "/keys/sk-ghost/rotate", {"grace_seconds": 6708508929225511}, 400, "grace_seconds"),
        ("PATCH", "/keys/sk-ghost", {"requests_per_minute": 5}, 404, "prefix"),
        ("PATCH", "/keys/sk-ghost", {"requests_per_minute": 0}, 400, "requests_per_minute"),
        ("PATCH", "/keys/sk-ghost", {"secret": "sk-mine"}, 400, "secret"),
        # Found by schemathesis on PostgreSQL: rate limits are 32-bit columns, text holds no NUL.
        ("POST", "/tiers", {"name": "big", "requests_per_minute": 2**31}, 400, "requests_per_minute"),
        ("PATCH", "/tiers/standard", {"output_tokens_per_day": 2**31}, 400, "output_tokens_per_day"),
        ("POST", "/keys", {"name": "k", "tokens_per_minute": 2**31}, 400, "tokens_per_minute"),
        ("POST", "/tenants", {"name": "nul\x00", "tier": "standard"}, 400, "name"),
        ("POST", "/tiers", {"name": "t", "description": "\x00"}, 400, "description"),
        ("POST", "/keys", {"name": "k", "models": ["chat\x00"]}, 400, "models"),
        ("POST", "/tiers", {"name": "t", "description": "d" * 501}, 400, "description"),  # VARCHAR(500)
        # Terminal escapes and line breaks in names: they are listed in the operator's terminal and logs.
        ("POST", "/tenants", {"name": "acme\x1b[2J", "tier": "standard"}, 400, "name"),
        ("POST", "/keys", {"name": "bot\nroot"}, 400, "name"),
        ("PATCH", "/keys/sk-ghost", {"name": "bot\r"}, 400, "name"),
        ("POST", "/tiers", {"name": "t\tx"}, 400, "name"),
        ("POST", "/keys", {"name": "bot\u202egnp.exe"}, 400, "name"),  # shown reversed: "bot" + "exe.png"
        ("POST", "/tiers", {"name": "t", "description": "a\x9b2J"}, 400, "description"),  # a C1 escape
        ("POST", "/keys", {"name": "k", "models": ["m"] * 257}, 400, "models"),
        ("POST", "/keys", {"name": "k", "models": ["m" * 257]}, 400, "models[0]"),
        ("PATCH", "/keys/sk-ghost", {"requests_per_minute": 2**31}, 400, "requests_per_minute"),
    ],
)
def test_bad_admin_requests(
    admin: Admin, method: str, path: str, body: dict[str, object], status: int, param: str
) -> None:
    response = admin.call(method, path, json=body)
    assert response.status_code == status, response.text
    assert response.json()["error"]["param"] == param


@pytest.mark.parametrize(("path", "param"), [
    ("/keys?tenant=%00acme", "tenant"), ("/usage?model=chat%00", "model"), ("/usage.csv?key=%00", "key"),
    ("/audit?actor=%00", "actor"), ("/tenants/acme%00", "name"),
])
def test_a_nul_character_in_a_query_or_path_is_a_400_naming_it(admin: Admin, path: str, param: str) -> None:
    # PostgreSQL text cannot hold one: found by schemathesis as a 500.
    response = admin.call("GET" if "tenants" not in path else "PATCH", path,
                          json={"tier": "standard"} if "tenants" in path else None)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == param


def test_usage_is_grouped_and_exported(admin: Admin) -> None:
    ledger = Ledger(admin.database)
    day = datetime(2026, 10, 5, 12, tzinfo=UTC)
    for key_id, model, cost in [(1, "a", 1_500_000_000), (1, "b", 500_000_000), (2, "a", 250_000_000)]:
        ledger.record(UsageRecord(created_at=day, request_id=f"r{key_id}{model}", tenant_id=1,
                                  key_id=key_id, endpoint="/v1/chat/completions", model_requested=model,
                                  model_served=model, status=200, input_tokens=10, output_tokens=5,
                                  cost_nano=cost))
    asyncio.run(ledger.flush())
    window = {"from": "2026-10-01", "to": "2026-10-31"}
    by_model = admin.call("GET", "/usage", params={**window, "group_by": "model"}).json()
    assert {g["group"]: g["cost_eur"] for g in by_model["data"]} == {"a": 1.75, "b": 0.5}
    assert by_model["total_cost_eur"] == 2.25
    by_day = admin.call("GET", "/usage", params={**window, "group_by": "day"}).json()
    assert [g["group"] for g in by_day["data"]] == ["2026-10-05"] and by_day["data"][0]["requests"] == 3
    outside = admin.call("GET", "/usage", params={"from": "2026-10-06", "to": "2026-10-31"}).json()
    assert outside["data"] == []
    exported = admin.call("GET", "/usage.csv", params={**window, "group_by": "model"})
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert exported.headers["content-type"].startswith("text/csv")
    assert [(r["model"], r["cost_eur"]) for r in rows] == [("a", "1.75"), ("b", "0.5")]
    assert [(r["guardrail_flagged"], r["guardrail_blocked"]) for r in rows] == [("0", "0"), ("0", "0")]
    assert admin.call("GET", "/usage", params={"tenant": "ghost"}).status_code == 404
    assert admin.call("GET", "/usage", params={"group_by": "colour"}).status_code == 400


def test_the_operator_grants_a_tenant_the_e_mail_domains_its_provider_may_claim(admin: Admin) -> None:
    made = admin.call("POST", "/tenants", json={"name": "initech", "tier": "standard"})
    assert made.json()["email_domains"] == []
    grant = {"email_domains": ["@Initech.example", "ini.example"]}
    granted = admin.call("PATCH", "/tenants/initech", json=grant)
    assert granted.status_code == 200, granted.text
    assert granted.json()["email_domains"] == ["ini.example", "initech.example"]  # cleaned and sorted
    kept = admin.call("PATCH", "/tenants/initech", json={"prepaid_credit_eur": 10}).json()
    assert kept["email_domains"] == ["ini.example", "initech.example"]  # left out: unchanged
    for bad in (["not a domain"], ["localhost"], ["a.example/x"], ["-a.example"], ["x." * 130 + "example"]):
        refused = admin.call("PATCH", "/tenants/initech", json={"email_domains": bad})
        assert refused.status_code == 400, bad
        assert refused.json()["error"]["param"].startswith("email_domains"), bad
    assert admin.call("GET", "/tenants").json()[-1]["email_domains"] == ["ini.example", "initech.example"]
    assert admin.call("PATCH", "/tenants/initech", json={"email_domains": []}).json()["email_domains"] == []


def test_a_null_description_leaves_a_tier_as_it_was(admin: Admin) -> None:
    # Found by schemathesis: null went into a NOT NULL column, a 500.
    assert admin.call("POST", "/tiers", json={"name": "quiet", "description": "kept"}).status_code == 201
    changed = admin.call("PATCH", "/tiers/quiet", json={"description": None})
    assert changed.status_code == 200, changed.text
    assert changed.json()["description"] == "kept"


def test_times_carry_their_time_zone(admin: Admin) -> None:
    # Found by schemathesis: SQLite's naive datetimes were served without an offset, not RFC 3339.
    made = admin.call("POST", "/tenants", json={"name": "zoned", "tier": "standard"}).json()
    key = admin.call("POST", "/keys", json={"name": "k", "tenant": "zoned"}).json()
    for moment in (made["created_at"], key["created_at"]):
        assert datetime.fromisoformat(moment).utcoffset() is not None, moment
