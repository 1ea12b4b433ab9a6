"""The sovereignty report's findings, each from the settings it reads: TLS and listeners, egress with
its CA sources, database and Redis TLS with their passwords masked, logs."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from llmaas.catalog import Catalog
from llmaas.catalog.models import ModelEntry
from llmaas.observability.logs import ACCESS_LOG_FIELDS, log_request
from llmaas.settings import Settings
from llmaas.sovereignty import (
    database_finding,
    egress_findings,
    listener_findings,
    log_finding,
    redis_finding,
    remote_images_finding,
)
from tests.certs import make_pair


def _settings(**values: object) -> Settings:
    return Settings.model_validate({"home": "/tmp/llmaas-report", **values})


def test_tls_with_a_usable_certificate_is_tls_1_3(tmp_path: Path) -> None:
    pair = make_pair(tmp_path)
    tls, plain = listener_findings(_settings(host="0.0.0.0", tls_cert_file=pair.cert, tls_key_file=pair.key))
    assert (tls.state, tls.status) == ("HTTPS, minimum TLS 1.3", "ok")
    assert (plain.state, plain.status) == ("none", "ok")


def test_an_unusable_certificate_is_broken(tmp_path: Path) -> None:
    (tmp_path / "cert.pem").write_text("not a certificate")
    (tmp_path / "key.pem").write_text("not a key")
    files = {"tls_cert_file": tmp_path / "cert.pem", "tls_key_file": tmp_path / "key.pem"}
    tls, _ = listener_findings(_settings(**files))
    assert tls.status == "broken"


@pytest.mark.parametrize(("values", "tls_status", "plain_state", "plain_status"), [
    ({}, "ok", "loopback only", "ok"),
    ({"host": "0.0.0.0"}, "broken", "0.0.0.0:8000 in plain HTTP", "broken"),
    ({"host": "0.0.0.0", "behind_tls_proxy": True}, "ok", "0.0.0.0:8000 to the proxy", "warning"),
    ({"host": "0.0.0.0", "behind_tls_proxy": True, "trusted_proxies": ["10.0.0.0/8", "0.0.0.0/0"]},
     "warning", "0.0.0.0:8000 to the proxy", "warning"),
])
def test_plain_http_listeners(values: dict[str, object], tls_status: str, plain_state: str,
                              plain_status: str) -> None:
    tls, plain = listener_findings(_settings(**values))
    assert tls.status == tls_status
    assert (plain.state, plain.status) == (plain_state, plain_status)


def test_https_upstreams_name_their_ca_source(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    upstreams = [{"url": "https://a.example/v1", "ca_file": str(ca)}, {"url": "https://b.example:9443/v1"}]
    catalog = Catalog([ModelEntry.model_validate({
        "id": "m", "family": "f", "owned_by": "o", "license": "MIT", "capabilities": ["chat"],
        "context_length": 4096, "upstreams": upstreams})])
    [finding] = egress_findings(_settings(upstream_ca_file=tmp_path / "bundle.pem"), catalog)
    assert finding.state == "https://a.example:443, https://b.example:9443"
    assert finding.detail == (f"a.example:443 verified by ca_file {ca}; "
                              f"b.example:9443 verified by upstream_ca_file {tmp_path / 'bundle.pem'}")


@pytest.mark.parametrize(("url", "state", "status"), [
    ("postgresql://u:db-secret@db.example/llmaas?sslmode=verify-full", "TLS, host verified", "ok"),
    ("postgresql://u:db-secret@db.example/llmaas?sslmode=require", "TLS without host verification (require)",
     "warning"),
    ("postgresql://u:db-secret@db.example/llmaas", "no TLS beyond loopback", "warning"),
    ("postgresql://u:db-secret@127.0.0.1/llmaas", "loopback or local socket", "ok"),
])
def test_database_tls_with_the_password_masked(url: str, state: str, status: str) -> None:
    finding = database_finding(_settings(database_url=url))
    assert (finding.state, finding.status) == (state, status)
    assert "db-secret" not in finding.detail and "***" in finding.detail


@pytest.mark.parametrize(("url", "state", "status"), [
    ("rediss://:redis-secret@cache.example:6380/0", "TLS", "ok"),
    ("rediss://:redis-secret@cache.example/0?ssl_cert_reqs=none", "TLS without verification", "warning"),
    ("redis://:redis-secret@cache.example/0", "no TLS beyond loopback", "warning"),
    ("redis://localhost:6379/0", "loopback or local socket", "ok"),
])
def test_redis_tls_with_the_password_masked(url: str, state: str, status: str) -> None:
    finding = redis_finding(_settings(redis_url=url))
    assert (finding.state, finding.status) == (state, status)
    assert "redis-secret" not in finding.detail


def test_the_logged_fields_are_those_the_access_log_writes(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="llmaas.access"):
        log_request(request_id="r", method="POST", path="/v1/chat/completions", status=200, duration_ms=1.0,
                    key_prefix="sk-llmaas-abcd", model="m")
    assert tuple(json.loads(caplog.records[-1].getMessage())) == ACCESS_LOG_FIELDS
    assert log_finding(_settings()).status == "ok"
    assert log_finding(_settings(log_level="DEBUG")).status == "warning"


def test_remote_image_fetching_is_stated_with_its_hosts() -> None:
    assert remote_images_finding(_settings()).state == "none fetched"
    finding = remote_images_finding(_settings(remote_image_hosts="images.example.com, cdn.example.org"))
    assert finding.state == "images.example.com, cdn.example.org"
    assert "from these hosts only" in finding.detail
