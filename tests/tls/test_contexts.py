"""The gateway's server context (TLS 1.3 only, reloadable) and its client contexts, in real handshakes."""

from __future__ import annotations

import shutil
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from llmaas.errors import TLSConfigError
from llmaas.tls import ServerTLS, client_context
from tests.certs import handshake, make_pair


@contextmanager
def listening(context: ssl.SSLContext) -> Iterator[int]:
    """A loopback TLS server that completes handshakes with `context` and hangs up; yields its port."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.1)
    done = threading.Event()

    def accept() -> None:
        while not done.is_set():
            try:
                raw, _ = server.accept()
            except TimeoutError:
                continue
            raw.settimeout(5)
            try:
                with context.wrap_socket(raw, server_side=True):
                    pass
            except (ssl.SSLError, OSError):
                raw.close()  # the refused handshakes of the tests

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        done.set()
        thread.join(5)
        server.close()


def test_tls_1_3_is_accepted_and_tls_1_2_refused(tmp_path: Path) -> None:
    files = make_pair(tmp_path)
    with listening(ServerTLS(files.cert, files.key).context) as port:
        assert handshake(port, files.cert)[0] == "TLSv1.3"
        assert handshake(port, files.cert, version=ssl.TLSVersion.TLSv1_3)[0] == "TLSv1.3"
        with pytest.raises(ssl.SSLError, match=r"PROTOCOL_VERSION|UNSUPPORTED_PROTOCOL"):
            handshake(port, files.cert, version=ssl.TLSVersion.TLSv1_2)


def test_a_reload_serves_the_new_certificate_to_new_handshakes(tmp_path: Path) -> None:
    live, new = make_pair(tmp_path / "live"), make_pair(tmp_path / "new")
    tls = ServerTLS(live.cert, live.key)
    old = shutil.copy(live.cert, tmp_path / "old.pem")
    with listening(tls.context) as port:
        before = handshake(port, old)[1]
        shutil.copy(new.cert, live.cert)
        shutil.copy(new.key, live.key)
        assert handshake(port, old)[1] == before, "nothing changes before the reload"
        tls.reload()
        after = handshake(port, new.cert)[1]
        assert after != before
        with pytest.raises(ssl.SSLCertVerificationError):
            handshake(port, old)


def test_a_reload_of_an_unusable_pair_keeps_the_running_certificate(tmp_path: Path) -> None:
    live, other = make_pair(tmp_path / "live"), make_pair(tmp_path / "other")
    tls = ServerTLS(live.cert, live.key)
    served = live.cert.read_bytes()
    with listening(tls.context) as port:
        before = handshake(port, live.cert)[1]
        shutil.copy(other.key, live.key)  # rotated half-way: the key of another certificate
        with pytest.raises(TLSConfigError, match="does not belong to the certificate"):
            tls.reload()
        assert handshake(port, live.cert)[1] == before and live.cert.read_bytes() == served


def test_client_contexts_verify_and_name_unusable_files(tmp_path: Path) -> None:
    files = make_pair(tmp_path)
    context = client_context(ca_file=files.cert, cert_file=files.cert, key_file=files.key)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    with pytest.raises(TLSConfigError, match=rf"cannot use the CA file {tmp_path / 'nope.pem'}: No such"):
        client_context(ca_file=tmp_path / "nope.pem")
    with pytest.raises(TLSConfigError, match=rf"cannot use the client certificate {files.cert} with the key"):
        client_context(cert_file=files.cert, key_file=make_pair(tmp_path / "other").key)
