"""The /v1 and /admin APIs answer the same over HTTPS: `llmaas serve --tls-cert --tls-key` with the real
engines, the official SDK trusting the self-signed certificate."""

from __future__ import annotations

import math

import httpx
import pytest

from tests.e2e.conftest import HTTPS_ADMIN_TOKEN, Served

pytestmark = pytest.mark.e2e

HSTS = "max-age=63072000; includeSubDomains"
CHAT = "smollm2-135m-instruct"


def test_chat_over_https(served_https: Served) -> None:
    raw = served_https.client().chat.completions.with_raw_response.create(
        model=CHAT, messages=[{"role": "user", "content": "Name one colour."}], max_tokens=8, temperature=0)
    assert raw.headers["strict-transport-security"] == HSTS
    reply = raw.parse()
    assert reply.model == CHAT and reply.choices[0].message.content
    assert reply.usage is not None and 0 < reply.usage.completion_tokens <= 8


def test_streaming_over_https(served_https: Served) -> None:
    chunks = list(served_https.client().chat.completions.create(
        model=CHAT, messages=[{"role": "user", "content": "Say hello."}], max_tokens=8, stream=True,
        stream_options={"include_usage": True}))
    assert any(c.choices and c.choices[0].delta.content for c in chunks)
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0


def test_embeddings_and_models_over_https(served_https: Served) -> None:
    client = served_https.client()
    data = client.embeddings.create(model="all-minilm-l6-v2", input=["sovereign", "cloud"]).data
    assert len(data) == 2 and len(data[0].embedding) == 384
    assert math.isclose(math.fsum(x * x for x in data[0].embedding), 1.0, rel_tol=1e-3)
    assert {m.id for m in client.models.list()} == {CHAT, "all-minilm-l6-v2"}


def test_the_admin_api_over_https(served_https: Served) -> None:
    with httpx.Client(base_url=served_https.url, verify=served_https.trust(),
                      headers={"Authorization": f"Bearer {HTTPS_ADMIN_TOKEN}"}) as admin:
        created = admin.post("/admin/api/keys", json={"name": "over-tls"})
        assert created.status_code in (200, 201), created.text
        assert created.headers["strict-transport-security"] == HSTS
        secret = created.json()["secret"]
        assert any(key["name"] == "over-tls" for key in admin.get("/admin/api/keys").json())
    assert served_https.client().models.list().data  # the old key still works
    with httpx.Client(verify=served_https.trust()) as client:
        listed = client.get(f"{served_https.url}/v1/models", headers={"Authorization": f"Bearer {secret}"})
    assert listed.status_code == 200


def test_plain_http_to_an_https_port_gets_no_answer(served_https: Served) -> None:
    with pytest.raises(httpx.TransportError):
        httpx.get(served_https.url.replace("https://", "http://") + "/health", timeout=5)
