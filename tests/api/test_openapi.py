"""The served OpenAPI document says how the server refuses: OpenAI's error body, 400 for a bad request."""

from __future__ import annotations

from pathlib import Path

import httpx

from llmaas.app import create_app
from llmaas.catalog import Catalog
from llmaas.settings import Settings
from tests.databases import fresh_database
from tests.servers import serve


def test_errors_are_documented_as_the_server_answers_them(tmp_path: Path) -> None:
    database = fresh_database("sqlite", sqlite_dir=tmp_path, postgres_admin_url=None)
    app = create_app(Settings(home=tmp_path, admin_token="a" * 20 + "0123456789bcdef"),
                     catalog=Catalog([]), database=database)
    with serve(app) as url:
        document = httpx.get(f"{url}/openapi.json").json()
        refused = httpx.post(f"{url}/admin/api/tiers", json={"name": 1},
                             headers={"Authorization": f"Bearer {'a' * 20}0123456789bcdef"})
    database.dispose()
    assert refused.status_code == 400 and set(refused.json()["error"]) == {"message", "type", "param", "code"}
    error = {"$ref": "#/components/schemas/ErrorResponse"}
    for path in ("/v1/chat/completions", "/admin/api/tiers"):
        responses = document["paths"][path]["post"]["responses"]
        assert "422" not in responses
        for status in ("400", "4XX", "5XX"):
            assert responses[status]["content"]["application/json"]["schema"] == error
    assert "HTTPValidationError" not in document["components"]["schemas"]
    for path in ("/v1/chat/completions", "/v1/completions"):
        assert set(document["paths"][path]["post"]["responses"]["200"]["content"]) == {
            "application/json", "text/event-stream"}
    embeddings = document["paths"]["/v1/embeddings"]["post"]["responses"]["200"]["content"]
    assert "text/event-stream" not in embeddings
    csv = document["paths"]["/admin/api/usage.csv"]["get"]["responses"]["200"]["content"]
    assert list(csv) == ["text/csv"]
