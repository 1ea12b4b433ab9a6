"""Certificates and keys as files: a development self-signed certificate, and the checks that turn an
unusable certificate or key file into a message naming the file and the reason."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from llmaas.errors import TLSConfigError

DEFAULT_HOSTS = ("localhost", "127.0.0.1", "::1")


@dataclass(frozen=True)
class CertificateFiles:
    cert: Path
    key: Path


def self_signed(hosts: list[str], *, days: int = 365) -> tuple[bytes, bytes]:
    """A CA-less certificate for `hosts` (names or IP addresses, all in its SANs) and its key, as PEM.

    For development and tests: clients trust it by being given the certificate itself as their CA
    (`curl --cacert cert.pem`; Python: `ssl.create_default_context(cafile="cert.pem")`).
    """
    if not hosts:
        raise ValueError("a certificate needs at least one host")
    key = ec.generate_private_key(ec.SECP256R1())  # fast to make, and every TLS 1.3 client speaks it
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0]),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, "llmaas development")])
    now = datetime.now(UTC)
    public = key.public_key()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))  # a client whose clock lags still accepts it
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                     key_encipherment=False, data_encipherment=False, key_agreement=False,
                                     key_cert_sign=False, crl_sign=False, encipher_only=False,
                                     decipher_only=False), critical=True)
        # Client too: the same development pair can try out mutual TLS with an upstream.
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                              ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return certificate.public_bytes(serialization.Encoding.PEM), key_pem


def write_self_signed(out: Path, hosts: list[str], *, days: int = 365) -> CertificateFiles:
    """Write `cert.pem` and `key.pem` (mode 0600) into `out`. Each file is replaced whole (written
    beside, then renamed), so a server reloading on SIGHUP never reads half a file."""
    cert_pem, key_pem = self_signed(hosts, days=days)
    out.mkdir(parents=True, exist_ok=True)
    files = CertificateFiles(cert=out / "cert.pem", key=out / "key.pem")
    _replace(files.key, key_pem, mode=0o600)
    _replace(files.cert, cert_pem, mode=0o644)
    return files


def _replace(path: Path, data: bytes, *, mode: int) -> None:
    partial = path.with_name(f".{path.name}.partial")
    partial.unlink(missing_ok=True)
    # Created with its final mode: the key is never readable by others, not even for a moment.
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(descriptor, "wb") as file:
        file.write(data)
    os.replace(partial, path)


def check_pair(cert: Path, key: Path) -> x509.Certificate:
    """The leaf certificate of `cert` when `cert` and `key` are usable together, else TLSConfigError
    saying which file is wrong and why. Blocking: reads both files."""
    cert_pem, key_pem = _read(cert, "certificate"), _read(key, "key")
    try:
        leaf = x509.load_pem_x509_certificates(cert_pem)[0]
    except ValueError:
        raise TLSConfigError(f"the TLS certificate {cert} holds no PEM certificate") from None
    try:
        private = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):  # TypeError: it needs a password
        raise TLSConfigError(f"the TLS key {key} holds no unencrypted PEM private key") from None
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if private.public_key().public_bytes(*spki) != leaf.public_key().public_bytes(*spki):
        raise TLSConfigError(f"the TLS key {key} does not belong to the certificate {cert}")
    return leaf


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise TLSConfigError(f"cannot read the TLS {what} {path}: {error.strerror or error}") from None


def describe(certificate: x509.Certificate) -> str:
    """Subject and expiry, for the log."""
    expires = certificate.not_valid_after_utc.date().isoformat()
    return f"{certificate.subject.rfc4514_string()}, valid until {expires}"
