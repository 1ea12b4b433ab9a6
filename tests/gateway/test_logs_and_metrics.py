"""A client's strings cannot grow the logs, the metrics or the ledger without bound (issue 9)."""

from __future__ import annotations

import logging

import httpx
import orjson
import pytest

from tests.fakes import FakeEngine
from tests.gateway.conftest import Platform


def chat(platform: Platform, model: str, **headers: str) -> httpx.Response:
    return httpx.post(f"{platform.url}/v1/chat/completions",
                      json={"model": model, "messages": [{"role": "user", "content": "x"}]},
                      headers={"Authorization": f"Bearer {platform.key}", **headers})


def access_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, object]]:
    return [orjson.loads(r.getMessage()) for r in caplog.records if r.name == "llmaas.access"]


def test_only_catalog_models_become_labels_and_log_fields(
    platform: Platform, engine: FakeEngine, caplog: pytest.LogCaptureFixture
) -> None:
    made_up = [f"probe-{i}-" + "m" * 200 for i in range(20)]
    with caplog.at_level(logging.INFO, logger="llmaas.access"):
        for model in made_up:
            assert chat(platform, model).status_code == 404
        assert chat(platform, "chat-default").status_code == 200
        assert chat(platform, "m" * 50_000).status_code == 400  # past the length a model name may have
    metrics = httpx.get(f"{platform.url}/metrics").text
    assert "probe-" not in metrics and "mmmm" not in metrics
    assert 'model="unknown"' in metrics and 'model="chat-default"' in metrics
    lines = access_lines(caplog)
    assert [line["model"] for line in lines] == ["unknown"] * 20 + ["chat-default", None]
    assert all(len(orjson.dumps(line)) < 1000 for line in lines)


def test_a_long_path_is_logged_cut(platform: Platform, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="llmaas.access"):
        assert httpx.get(f"{platform.url}/v1/" + "p" * 20_000).status_code == 404
    [line] = access_lines(caplog)
    assert isinstance(line["path"], str) and len(line["path"]) <= 257 and line["path"].endswith("…")


def test_a_path_is_logged_printable(platform: Platform, caplog: pytest.LogCaptureFixture) -> None:
    # A bidirectional override would show the line reordered to whoever reads the log.
    with caplog.at_level(logging.INFO, logger="llmaas.access"):
        assert httpx.get(f"{platform.url}/v1/a%E2%80%AEb%C2%9Bc").status_code == 404
    [line] = access_lines(caplog)
    assert line["path"] == "/v1/a\ufffdb\ufffdc"


def test_a_client_request_id_is_kept_only_when_short_and_plain(
    platform: Platform, engine: FakeEngine
) -> None:
    given = "a" * 64
    assert chat(platform, "chat-model", **{"x-request-id": given}).headers["x-request-id"] == given
    longer = chat(platform, "chat-model", **{"x-request-id": "a" * 65}).headers["x-request-id"]
    assert longer.startswith("req_") and len(longer) <= 64
