"""The public status page end to end: a gateway serves streamed answers, stops (its minutes written),
and a second replica's /status and /status.json show every model with its speed, nothing of any
tenant, behind strict security headers, the same cached report whatever a client sends; /v1/models
publishes the catalog's energy figures. On SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import jsonschema
import openai
from sqlalchemy import Engine

from llmaas.app import create_app
from llmaas.auth import KeyService
from llmaas.catalog import Catalog
from llmaas.settings import Settings
from llmaas.status import StatusReport
from llmaas.tenancy import TenantService
from tests.fakes import FakeEngine
from tests.gateway.conftest import catalog_for
from tests.servers import serve

TENANT = "tenant-acme-confidential"
PROMPT = "the secret launch code is 7731"


def _catalog(engine_url: str) -> Catalog:
    base = catalog_for(engine_url)
    return Catalog([entry.model_copy(update={"energy_kwh_per_million_tokens": 0.05})
                    if entry.id == "chat-model" else entry for entry in base], aliases=base.aliases)


def _schema(document: dict[str, Any]) -> dict[str, Any]:
    answer = document["paths"]["/status.json"]["get"]["responses"]["200"]["content"]["application/json"]
    return {**answer["schema"], "components": document["components"]}


def test_the_status_page_shows_every_model_and_nothing_of_any_tenant(
    database: Engine, tmp_path: Path,
) -> None:
    engine = FakeEngine(model="upstream-name")
    settings = Settings(home=tmp_path, health_interval_s=0.2, ledger_flush_interval_s=0.05)
    TenantService(database).create(name=TENANT, tier="custom")
    key = KeyService(database).create(name="status-test", tenant=TENANT)
    with serve(engine.app()) as engine_url:
        catalog = _catalog(engine_url)
        with serve(create_app(settings, catalog=catalog, database=database)) as url, \
                openai.OpenAI(base_url=f"{url}/v1", api_key=key.secret, max_retries=0) as client:
            for _ in range(3):
                stream = client.chat.completions.create(
                    model="chat-model", messages=[{"role": "user", "content": PROMPT}], stream=True,
                    stream_options={"include_usage": True})
                assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
            models = {model.id: model for model in client.models.list()}
            assert models["chat-model"].model_extra["energy_kwh_per_million_tokens"] == 0.05  # type: ignore[index]
            assert models["base-model"].model_extra["energy_kwh_per_million_tokens"] is None  # type: ignore[index]
        # Stopped: its minutes are written. Another replica reads them.
        with serve(create_app(settings, catalog=catalog, database=database)) as url:
            answer = httpx.get(f"{url}/status.json")
            page = httpx.get(f"{url}/status")
            stylesheet = httpx.get(f"{url}/status.css")
            document = httpx.get(f"{url}/openapi.json").json()
            junk = [httpx.get(f"{url}/status.json", params={"model": f"m{n}", "x" * n: "y" * 1000})
                    for n in range(1, 20)]
            refused = httpx.post(f"{url}/status.json", json={"model": "chat-model"})

    assert answer.status_code == 200
    body = answer.json()
    jsonschema.Draft202012Validator(_schema(document)).validate(body)
    assert set(body) == set(StatusReport.model_fields)
    report = StatusReport.model_validate(body)
    shown = {model.id: model for model in report.models}
    assert list(shown) == [entry.id for entry in catalog]
    chat = shown["chat-model"]
    assert chat.state == "up" and shown["down-model"].state == "down"
    assert chat.last_hour.streams == 3 and chat.last_hour.time_to_first_token_p50_ms is not None
    assert chat.availability.measured_minutes_30d >= 1
    assert {notice.model for notice in report.notices} == {"old-model", "gone-model", "moved-model"}

    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    assert all(f'<th scope="row">{entry.id}</th>' in html for entry in catalog)
    assert "<script" not in html and 'lang="en"' in html and "<caption>" in html
    assert stylesheet.headers["content-type"].startswith("text/css")
    for secret in (TENANT, key.key.prefix, key.secret, PROMPT, "status-test"):
        assert secret not in html and secret not in answer.text

    for response in (answer, page, stylesheet):
        csp = response.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp and "script-src" not in csp
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"

    # No client input reaches the report: whatever the query, the same cached answer, of the same size.
    assert all(response.status_code == 200 and response.content == answer.content for response in junk)
    assert refused.status_code == 405
