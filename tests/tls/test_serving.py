"""`llmaas serve --tls-cert --tls-key` as an operator runs it: TLS 1.3 only, HSTS on every response,
and a certificate rotated by SIGHUP without a restart."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from llmaas.auth import KeyService
from llmaas.storage.database import create_database_engine, migrate
from llmaas.tls import CertificateFiles
from tests.certs import handshake, make_pair
from tests.fakes import FakeEngine
from tests.servers import free_port, serve, wait_for

HSTS = "max-age=63072000; includeSubDomains"
CATALOG = ('[[models]]\nid = "chat"\nfamily = "f"\nowned_by = "o"\nlicense = "MIT"\ncapabilities = ["chat"]\n'
           'context_length = 4096\nupstreams = [{{url = "{upstream}/v1", model = "fake"}}]\n')


@dataclass
class Served:
    port: int
    url: str
    key: str
    files: CertificateFiles
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes]

    def client(self, ca: Path) -> httpx.Client:
        return httpx.Client(base_url=self.url, verify=ssl.create_default_context(cafile=ca),
                            headers={"Authorization": f"Bearer {self.key}"})


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    home = tmp_path_factory.mktemp("tls-serve")
    files = make_pair(home / "certs")
    database = create_database_engine(f"sqlite:///{home / 'llmaas.db'}")
    migrate(database)
    key = KeyService(database).create(name="tls").secret
    database.dispose()
    with serve(FakeEngine(model="fake").app()) as upstream:
        (home / "catalog.toml").write_text(CATALOG.format(upstream=upstream))
        env = {**os.environ, "LLMAAS_HOME": str(home), "LLMAAS_HEALTH_INTERVAL_S": "0.2",
               "LLMAAS_REQUEST_BODY_TIMEOUT_S": "1"}
        port, log = free_port(), home / "serve.log"
        with log.open("wb") as output:
            process = subprocess.Popen(
                [sys.executable, "-m", "llmaas", "serve", "--no-embedded", "--catalog",
                 str(home / "catalog.toml"), "--port", str(port),
                 "--tls-cert", str(files.cert), "--tls-key", str(files.key)],
                env=env, stdout=output, stderr=subprocess.STDOUT)
        url = f"https://127.0.0.1:{port}"
        try:
            trust = ssl.create_default_context(cafile=files.cert)
            wait_for(lambda: httpx.get(f"{url}/ready", verify=trust).status_code == 200, process=process,
                     log=log, what="llmaas serve over HTTPS ready")
            yield Served(port, url, key, files, env, log, process)
        finally:
            process.send_signal(signal.SIGTERM)
            assert process.wait(30) == 0


def test_tls_1_2_is_refused_and_tls_1_3_accepted(served: Served) -> None:
    # uvloop hangs up on a refused ClientHello rather than sending OpenSSL's alert: an EOF here.
    with pytest.raises(ssl.SSLError) as refused:
        handshake(served.port, served.files.cert, version=ssl.TLSVersion.TLSv1_2)
    assert not isinstance(refused.value, ssl.SSLCertVerificationError)
    assert handshake(served.port, served.files.cert, version=ssl.TLSVersion.TLSv1_3)[0] == "TLSv1.3"
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(f"http://127.0.0.1:{served.port}/health")  # no plain HTTP beside it


def test_openssl_s_client_agrees(served: Served) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("no openssl binary (Debian: apt-get install openssl)")

    def s_client(*flags: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [openssl, "s_client", "-connect", f"127.0.0.1:{served.port}", "-CAfile", str(served.files.cert),
             "-verify_return_error", *flags],
            input="", capture_output=True, text=True, timeout=30, check=False)

    refused = s_client("-tls1_2")  # the connection is closed on its ClientHello: no cipher agreed
    assert refused.returncode != 0 and "Cipher is (NONE)" in refused.stdout, refused.stdout
    accepted = s_client("-tls1_3")
    assert accepted.returncode == 0 and "TLSv1.3" in accepted.stdout, accepted.stderr


def test_every_response_carries_hsts(served: Served) -> None:
    hi = [{"role": "user", "content": "Hi"}]
    with served.client(served.files.cert) as client:
        responses = [
            client.get("/health"),
            client.get("/v1/models"),  # FastAPI
            client.post("/v1/chat/completions", json={"model": "chat", "messages": hi}),  # the fast path
            client.post("/v1/chat/completions", json={"model": "nope", "messages": hi}),  # an error
            client.get("/v1/models", headers={"Authorization": "Bearer wrong"}),
        ]
    assert [response.status_code for response in responses] == [200, 200, 200, 404, 401]
    assert all(response.headers["strict-transport-security"] == HSTS for response in responses)
    assert responses[2].json()["choices"][0]["message"]["content"] == "Hello there"


def test_sighup_serves_a_rotated_certificate_without_a_restart(served: Served, tmp_path: Path) -> None:
    old = shutil.copy(served.files.cert, tmp_path / "old.pem")
    before = handshake(served.port, old)[1]
    make_pair(served.files.cert.parent)  # the new pair, in place of the old files
    tls_reload = [sys.executable, "-m", "llmaas", "tls", "reload"]
    assert subprocess.run(tls_reload, env=served.env, capture_output=True, check=False).returncode == 0

    def rotated() -> bool:
        try:
            return handshake(served.port, served.files.cert)[1] != before
        except ssl.SSLError:
            return False

    wait_for(rotated, timeout_s=10, process=served.process, what="the new certificate served")
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(served.port, old)
    with served.client(served.files.cert) as client:
        assert client.get("/health").status_code == 200
    assert "TLS certificate reloaded: O=llmaas development,CN=127.0.0.1" in served.log.read_text()


def test_a_broken_rotation_keeps_the_running_certificate(served: Served, tmp_path: Path) -> None:
    running = shutil.copy(served.files.cert, tmp_path / "running.pem")
    before = handshake(served.port, running)[1]
    shutil.copy(make_pair(tmp_path / "other").key, served.files.key)  # half-way: another certificate's key
    served.process.send_signal(signal.SIGHUP)
    wait_for(lambda: "TLS certificate not reloaded, the running one stays" in served.log.read_text(),
             timeout_s=10, process=served.process, what="the refusal logged")
    assert handshake(served.port, running)[1] == before


def test_an_oversized_request_head_over_https_is_a_431(served: Served) -> None:
    # `llmaas serve` listens with the bounded protocol (api/connections.py), under TLS as well.
    with served.client(served.files.cert) as client:
        response = client.get("/v1/models", headers={"x-big": "a" * (64 * 1024)})
        assert response.status_code == 431
        assert response.json()["error"]["code"] == "request_header_fields_too_large"
        assert response.headers["strict-transport-security"] == HSTS  # answered before the app, all the same
        assert client.get("/v1/models").status_code == 200


def test_a_body_dribbled_over_https_is_a_408_with_hsts(served: Served) -> None:
    # `llmaas serve` reads the body timeout from its settings (LLMAAS_REQUEST_BODY_TIMEOUT_S=1 here).
    context = ssl.create_default_context(cafile=served.files.cert)
    with (socket.create_connection(("127.0.0.1", served.port), timeout=30) as raw,
          context.wrap_socket(raw, server_hostname="127.0.0.1") as tls):
        tls.sendall(b"POST /v1/embeddings HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                    b"authorization: Bearer " + served.key.encode() + b"\r\ncontent-length: 100\r\n\r\n{")
        answer = b""
        with contextlib.suppress(ssl.SSLEOFError, ConnectionResetError):  # closed without close_notify
            while chunk := tls.recv(65536):  # until the server closes: it does, long before 30 s
                answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 ")
    assert f"strict-transport-security: {HSTS}".encode() in head
    assert json.loads(body)["error"]["code"] == "request_timeout"
    with served.client(served.files.cert) as client:
        assert client.get("/v1/models").status_code == 200
