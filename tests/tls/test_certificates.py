"""Development certificates, and the checks that name an unusable certificate or key file."""

from __future__ import annotations

import ipaddress
import stat
from pathlib import Path

import pytest
from cryptography import x509

from llmaas.errors import TLSConfigError
from llmaas.tls import check_pair
from tests.certs import make_pair


def test_a_self_signed_certificate_names_its_hosts_and_its_key_is_private(tmp_path: Path) -> None:
    files = make_pair(tmp_path, "llm.internal", "10.0.0.5", "::1")
    assert stat.S_IMODE(files.key.stat().st_mode) == 0o600
    leaf = check_pair(files.cert, files.key)
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["llm.internal"]
    assert names.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("10.0.0.5"),
                                                         ipaddress.ip_address("::1")]
    assert leaf.issuer == leaf.subject  # no CA: clients trust the certificate itself


def test_writing_again_replaces_both_files_whole(tmp_path: Path) -> None:
    first = make_pair(tmp_path).cert.read_bytes()
    files = make_pair(tmp_path)
    assert files.cert.read_bytes() != first
    assert sorted(path.name for path in tmp_path.iterdir()) == ["cert.pem", "key.pem"]
    check_pair(files.cert, files.key)


def test_a_missing_key_file_is_named(tmp_path: Path) -> None:
    files = make_pair(tmp_path)
    files.key.unlink()
    with pytest.raises(TLSConfigError, match=rf"cannot read the TLS key {files.key}: No such file"):
        check_pair(files.cert, files.key)


def test_an_unreadable_certificate_is_named(tmp_path: Path) -> None:
    files = make_pair(tmp_path)
    # A directory where the file should be: unreadable even for root, who ignores file modes.
    with pytest.raises(TLSConfigError, match=rf"cannot read the TLS certificate {tmp_path}: Is a directory"):
        check_pair(tmp_path, files.key)


def test_a_file_that_is_no_certificate_is_named(tmp_path: Path) -> None:
    files = make_pair(tmp_path)
    files.cert.write_text("not a certificate\n")
    with pytest.raises(TLSConfigError, match=rf"the TLS certificate {files.cert} holds no PEM certificate"):
        check_pair(files.cert, files.key)
    with pytest.raises(TLSConfigError, match=rf"the TLS key {files.cert} holds no unencrypted PEM"):
        check_pair(make_pair(tmp_path / "other").cert, files.cert)


def test_a_key_of_another_certificate_is_refused(tmp_path: Path) -> None:
    one, other = make_pair(tmp_path / "one"), make_pair(tmp_path / "other")
    with pytest.raises(TLSConfigError, match=rf"the TLS key {other.key} does not belong to the certificate"):
        check_pair(one.cert, other.key)
