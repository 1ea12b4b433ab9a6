"""`llmaas serve` refuses an unusable catalog or TLS set-up in one line, before it starts anything."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from llmaas.cli import app
from tests.certs import make_pair

MODEL = ('[[models]]\nid = "{id}"\nfamily = "f"\nowned_by = "o"\nlicense = "MIT"\n{extra}'
         'capabilities = ["chat"]\ncontext_length = 4096\nupstreams = [{{url = "http://vllm:8000/v1"}}]\n\n')


@pytest.fixture
def catalog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database: Engine) -> Path:
    path = tmp_path / "catalog.toml"
    monkeypatch.setenv("LLMAAS_HOME", str(tmp_path))
    monkeypatch.setenv("LLMAAS_CATALOG_FILE", str(path))
    monkeypatch.setenv("LLMAAS_DATABASE_URL", database.url.render_as_string(hide_password=False))
    monkeypatch.setenv("COLUMNS", "80")  # the error stays one line however narrow the terminal
    return path


def refused(tmp_path: Path, *args: str) -> str:
    result = CliRunner().invoke(app, ["serve", *args])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "llmaas.pid").exists()  # written once the engines are prepared
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Not started: "), result.output
    return lines[0]


def test_an_invalid_catalog_file_is_explained_in_one_line(catalog: Path, tmp_path: Path) -> None:
    too_soon = "deprecated_at = 2026-12-01\nretires_at = 2026-12-15\n"  # 3 months' notice: 2027-03-01
    catalog.write_text(MODEL.format(id="small", extra=too_soon))
    message = refused(tmp_path)
    assert "model 'small'" in message and "2027-03-01 at the earliest" in message


def test_a_missing_catalog_file_is_named(catalog: Path, tmp_path: Path) -> None:
    assert str(catalog) in refused(tmp_path, "--no-embedded")


def test_a_stored_override_the_file_no_longer_fits_is_named(catalog: Path, tmp_path: Path) -> None:
    catalog.write_text(MODEL.format(id="small", extra="") + MODEL.format(id="large", extra=""))
    assert CliRunner().invoke(app, ["models", "override", "small", "--set", "successor=large"]).exit_code == 0
    catalog.write_text(MODEL.format(id="small", extra=""))  # the successor left the file
    message = refused(tmp_path, "--no-embedded")
    assert "overrides in the database" in message and "unknown successor 'large'" in message


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LLMAAS_HOME", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "80")
    return tmp_path


def test_a_public_address_without_tls_is_refused(home: Path) -> None:
    message = refused(home, "--no-embedded", "--host", "0.0.0.0")
    assert "0.0.0.0 is not a loopback address and TLS is off" in message
    assert "--tls-cert" in message and "--behind-tls-proxy" in message
    assert "is not a loopback" in refused(home, "--no-embedded", "--host", "llm.example.internal")


def test_a_certificate_without_its_key_is_refused(home: Path) -> None:
    files = make_pair(home / "certs")
    assert "give both --tls-cert and --tls-key" in refused(home, "--tls-cert", str(files.cert))


def test_a_missing_key_file_is_named(home: Path) -> None:
    files = make_pair(home / "certs")
    files.key.unlink()
    message = refused(home, "--tls-cert", str(files.cert), "--tls-key", str(files.key))
    assert f"cannot read the TLS key {files.key}: No such file or directory" in message


def test_an_unreadable_certificate_is_named(home: Path) -> None:
    files = make_pair(home / "certs")
    files.cert.write_bytes(b"\x00garbage")
    message = refused(home, "--tls-cert", str(files.cert), "--tls-key", str(files.key))
    assert f"the TLS certificate {files.cert} holds no PEM certificate" in message


def test_a_key_that_does_not_match_the_certificate_is_named(home: Path) -> None:
    files, other = make_pair(home / "certs"), make_pair(home / "other")
    message = refused(home, "--tls-cert", str(files.cert), "--tls-key", str(other.key))
    assert f"the TLS key {other.key} does not belong to the certificate {files.cert}" in message


def test_an_unusable_upstream_ca_file_is_named(catalog: Path, tmp_path: Path) -> None:
    missing = tmp_path / "missing-ca.pem"
    catalog.write_text(MODEL.format(id="small", extra="").replace(
        'url = "http://vllm:8000/v1"', f'url = "https://vllm:8000/v1", ca_file = "{missing}"'))
    message = refused(tmp_path, "--no-embedded")
    assert f"model 'small', upstream https://vllm:8000/v1: cannot use the CA file {missing}" in message
