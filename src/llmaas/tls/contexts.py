"""SSL contexts: the gateway's own (TLS 1.3 only, its certificate reloadable), and those it uses as a
client of https:// engines (verified, optionally with a client certificate for mutual TLS)."""

from __future__ import annotations

import ssl
from pathlib import Path

from llmaas.errors import TLSConfigError
from llmaas.tls.certificates import check_pair, describe


class ServerTLS:
    """The listening socket's SSLContext, built once; `reload` loads a new certificate into it.

        tls = ServerTLS(Path("cert.pem"), Path("key.pem"))   # TLSConfigError when unusable
        uvicorn.Config(app, ssl_context_factory=lambda config, default: tls.context)
        tls.reload()                                          # after the files were replaced

    Each handshake copies the context's certificate when it starts, so a reload changes what new
    connections see and leaves open ones as they are.
    """

    def __init__(self, cert: Path, key: Path) -> None:
        self.cert = cert
        self.key = key
        self.description = self._checked()
        self.context = _server_context()
        self.context.load_cert_chain(cert, key)

    def reload(self) -> str:
        """Read the files again and serve the certificate they hold; a description for the log.
        TLSConfigError, and the running certificate stays, when they cannot be used."""
        description = self._checked()
        # load_cert_chain installs the certificate before it checks the key: a bad pair would leave the
        # live context broken, so the pair was proven on a context of its own first.
        self.context.load_cert_chain(self.cert, self.key)
        self.description = description
        return description

    def _checked(self) -> str:
        leaf = check_pair(self.cert, self.key)
        try:
            _server_context().load_cert_chain(self.cert, self.key)
        except ssl.SSLError as error:  # what the cryptography checks let through, in OpenSSL's words
            raise TLSConfigError(
                f"cannot use the TLS certificate {self.cert} with the key {self.key}: {error.reason or error}"
            ) from None
        return describe(leaf)


def server_minimum_version() -> ssl.TLSVersion:
    """The oldest TLS version the gateway's context accepts, read from the context itself (the
    sovereignty report states it)."""
    return _server_context().minimum_version


def _server_context() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_3  # a TLS 1.2 (or older) ClientHello is refused
    return context


def client_context(
    *, ca_file: Path | None = None, cert_file: Path | None = None, key_file: Path | None = None
) -> ssl.SSLContext:
    """A verifying client context for an https:// upstream: the system's CAs, or only `ca_file`'s when
    given; `cert_file` (with `key_file`, unless the key is in it) is presented for mutual TLS.

    TLS 1.2 at least: engines (vLLM behind its own proxy, TGI) may not speak 1.3. Verification of the
    certificate and of the host name is never turned off.
    """
    try:
        context = ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError) as error:
        raise TLSConfigError(f"cannot use the CA file {ca_file}: {_reason(error)}") from None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if cert_file is not None:
        try:
            context.load_cert_chain(cert_file, key_file)
        except (OSError, ssl.SSLError) as error:
            given = f"{cert_file}" + (f" with the key {key_file}" if key_file else "")
            raise TLSConfigError(f"cannot use the client certificate {given}: {_reason(error)}") from None
    return context


def _reason(error: OSError | ssl.SSLError) -> str:
    if isinstance(error, ssl.SSLError):
        return str(error.reason or error)
    return str(error.strerror or error)
