"""`llmaas tls self-signed` and `llmaas tls reload`."""

from __future__ import annotations

import ipaddress
import stat
from pathlib import Path

import pytest
from cryptography import x509
from typer.testing import CliRunner

from llmaas.cli import app
from llmaas.tls import check_pair


def test_self_signed_writes_a_pair_for_loopback_by_default_and_prints_the_paths(tmp_path: Path) -> None:
    out = tmp_path / "certs"
    result = CliRunner().invoke(app, ["tls", "self-signed", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert f"certificate: {out / 'cert.pem'}" in result.output and f"key: {out / 'key.pem'}" in result.output
    assert stat.S_IMODE((out / "key.pem").stat().st_mode) == 0o600
    names = check_pair(out / "cert.pem", out / "key.pem").extensions.get_extension_for_class(
        x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    assert names.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1"),
                                                         ipaddress.ip_address("::1")]


def test_self_signed_takes_the_hosts_given(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["tls", "self-signed", "--out", str(tmp_path), "--host", "llm.internal",
                                      "--host", "10.1.2.3", "--days", "30"])
    assert result.exit_code == 0, result.output
    leaf = check_pair(tmp_path / "cert.pem", tmp_path / "key.pem")
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["llm.internal"]
    assert names.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("10.1.2.3")]
    assert (leaf.not_valid_after_utc - leaf.not_valid_before_utc).days == 30


def test_reload_without_a_running_server_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMAAS_HOME", str(tmp_path))
    result = CliRunner().invoke(app, ["tls", "reload"])
    assert result.exit_code == 1 and "No running llmaas serve found" in result.output
