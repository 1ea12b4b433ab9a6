"""Certificates for tests, made by the platform's own `write_self_signed`, and real TLS handshakes."""

from __future__ import annotations

import socket
import ssl
from pathlib import Path

from cryptography import x509

from llmaas.tls import CertificateFiles, write_self_signed


def make_pair(directory: Path, *hosts: str) -> CertificateFiles:
    """A fresh self-signed certificate and key in `directory` (for 127.0.0.1 and localhost by default)."""
    return write_self_signed(directory, list(hosts or ("127.0.0.1", "localhost")))


def handshake(
    port: int, ca: Path | str, *, version: ssl.TLSVersion | None = None, host: str = "127.0.0.1"
) -> tuple[str, x509.Certificate]:
    """Connect to 127.0.0.1:`port` trusting only `ca`, offering at most `version`; the TLS version
    agreed and the server's certificate. ssl.SSLError when the handshake fails."""
    context = ssl.create_default_context(cafile=ca)
    if version is not None:
        context.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
        context.maximum_version = version
    with (socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
          context.wrap_socket(raw, server_hostname=host) as tls):
        der = tls.getpeercert(binary_form=True)
        assert der is not None and tls.version() is not None
        return str(tls.version()), x509.load_der_x509_certificate(der)
