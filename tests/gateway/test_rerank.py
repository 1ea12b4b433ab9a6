"""POST /v1/rerank through the gateway, against a fake engine."""

from __future__ import annotations

import time

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from llmaas.storage.tables import UsageEventRow
from tests.fakes import FakeEngine
from tests.gateway.conftest import Platform


def rerank(platform: Platform, body: dict[str, object]) -> httpx.Response:
    return httpx.post(f"{platform.url}/v1/rerank", json=body,
                      headers={"Authorization": f"Bearer {platform.key}"})


def test_rerank_is_relayed_and_billed_per_document(platform: Platform, engine: FakeEngine) -> None:
    response = rerank(platform, {"model": "embed-model", "query": "cats",
                                 "documents": ["a", {"text": "b"}, "c"], "top_n": 2})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == "embed-model" and [r["index"] for r in body["results"]] == [0, 1]
    assert engine.requests[-1]["documents"] == ["a", {"text": "b"}, "c"]
    time.sleep(0.3)
    with Session(platform.database) as session:
        row = session.scalars(select(UsageEventRow).where(UsageEventRow.endpoint == "/v1/rerank")
                              .order_by(UsageEventRow.id.desc())).first()
    assert row is not None and (row.documents, row.input_tokens) == (3, 11)
    # 2 EUR per thousand documents, 1000 EUR per million tokens.
    assert row.cost_nano == 3 * 2_000_000 + 11 * 1_000_000


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "embed-model", "documents": ["a"]}, "query"),
        ({"model": "embed-model", "query": "", "documents": ["a"]}, "query"),
        ({"model": "embed-model", "query": "q", "documents": []}, "documents"),
        ({"model": "embed-model", "query": "q", "documents": [""]}, "documents"),
        ({"model": "embed-model", "query": "q", "documents": ["a"], "top_n": 0}, "top_n"),
        ({"model": "chat-model", "query": "q", "documents": ["a"]}, "model"),
    ],
)
def test_bad_rerank_requests(
    platform: Platform, engine: FakeEngine, body: dict[str, object], param: str
) -> None:
    response = rerank(platform, body)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == param
    assert engine.requests == []
