from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from llmaas.settings import load_settings


def test_environment_beats_file_and_flags_beat_both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "llmaas.toml"
    config.write_text('port = 9000\nhost = "0.0.0.0"\nengine_threads = 3\n')
    monkeypatch.setenv("LLMAAS_PORT", "9100")
    settings = load_settings(config)
    assert (settings.port, settings.host, settings.engine_threads) == (9100, "0.0.0.0", 3)
    assert load_settings(config, port=9200).port == 9200


def test_unknown_keys_in_the_file_are_refused(tmp_path: Path) -> None:
    config = tmp_path / "llmaas.toml"
    config.write_text("prot = 9000\n")
    with pytest.raises(ValidationError, match="prot"):
        load_settings(config)


def test_database_defaults_to_sqlite_under_home(tmp_path: Path) -> None:
    settings = load_settings(None, home=tmp_path)
    assert settings.resolved_database_url == f"sqlite:///{tmp_path / 'llmaas.db'}"


def test_trusted_proxies_are_a_comma_separated_list_of_addresses_or_networks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert load_settings().trusted_proxies == ["127.0.0.1", "::1"]
    monkeypatch.setenv("LLMAAS_TRUSTED_PROXIES", "10.0.0.7, 172.18.0.0/16,fd00::1/64")
    assert load_settings().trusted_proxies == ["10.0.0.7", "172.18.0.0/16", "fd00::/64"]
    monkeypatch.setenv("LLMAAS_TRUSTED_PROXIES", "10.0.0.7,nginx")
    with pytest.raises(ValidationError, match="trusted_proxies: 'nginx' does not appear to be an IPv4"):
        load_settings()
