"""https:// upstreams are verified: the right CA (per upstream, or the global one) works, a wrong one is
a 503, and a client certificate is presented to an engine that asks for one (mutual TLS)."""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai
import pytest

from llmaas.app import create_app
from llmaas.auth import KeyService
from llmaas.catalog import Catalog, ModelEntry, Upstream
from llmaas.catalog.catalog import CatalogError
from llmaas.errors import EngineUnavailable
from llmaas.gateway.relay import UpstreamClient
from llmaas.gateway.serving import ServedCatalog, load_served_catalog
from llmaas.routing import Router, UpstreamPool, UpstreamTarget
from llmaas.settings import Settings
from llmaas.storage.database import create_database_engine, migrate
from llmaas.tls import client_context
from tests.certs import make_pair
from tests.clients import sdk
from tests.fakes import FakeEngine
from tests.servers import serve, wait_for

HI = [{"role": "user", "content": "Hi"}]


@dataclass
class Gateway:
    url: str
    key: str
    router: Router
    engine_url: str  # an https engine, trusted with upstream_ca_file
    stranger_ca: Path

    def chat(self, model: str, **options: Any) -> Any:
        return sdk(f"{self.url}/v1", self.key).chat.completions.create(
            model=model, messages=HI, **options)  # type: ignore[arg-type]


def model(model_id: str, url: str, **tls: Path) -> ModelEntry:
    return ModelEntry(id=model_id, family="f", owned_by="o", capabilities=["chat"], context_length=4096,
                      license="MIT", upstreams=[Upstream(url=f"{url}/v1", model="fake", **tls)])


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    home = tmp_path_factory.mktemp("upstream-tls")
    engine_pair, stranger, client = (make_pair(home / name) for name in ("engine", "stranger", "client"))
    server_tls = {"ssl_certfile": str(engine_pair.cert), "ssl_keyfile": str(engine_pair.key)}
    asks_client = {**server_tls, "ssl_cert_reqs": ssl.CERT_REQUIRED, "ssl_ca_certs": str(client.cert)}
    settings = Settings(home=home, health_interval_s=0.2, upstream_timeout_s=5,
                        upstream_ca_file=engine_pair.cert)
    database = create_database_engine(settings.resolved_database_url)
    migrate(database)
    secret = KeyService(database).create(name="tls").secret
    engine = FakeEngine(model="fake")
    with serve(engine.app(), **server_tls) as https, serve(engine.app(), **asks_client) as mutual:
        assert https.startswith("https://")
        catalog = Catalog([
            model("own-ca", https, ca_file=engine_pair.cert),
            model("global-ca", https),
            model("wrong-ca", https, ca_file=stranger.cert),
            model("mtls", mutual, ca_file=engine_pair.cert, client_cert_file=client.cert,
                  client_key_file=client.key),
            model("mtls-without-cert", mutual, ca_file=engine_pair.cert),
        ])
        app = create_app(settings, catalog=catalog, database=database)
        with serve(app) as url:
            router: Router = app.state.served_catalog.router
            wait_for(lambda: all(router.pools[m].ready for m in ("own-ca", "global-ca", "mtls")),
                     timeout_s=10, what="the https upstreams healthy")
            yield Gateway(url, secret, router, https, stranger.cert)
    database.dispose()


def test_the_upstreams_own_ca_or_the_global_one_verifies_it(gateway: Gateway) -> None:
    for model_id in ("own-ca", "global-ca"):
        assert gateway.chat(model_id).choices[0].message.content == "Hello there"
        words = [chunk.choices[0].delta.content for chunk in gateway.chat(model_id, stream=True)
                 if chunk.choices and chunk.choices[0].delta.content]
        assert "".join(words) == "Hello there friend"


def test_a_certificate_of_another_ca_is_a_503(gateway: Gateway, caplog: pytest.LogCaptureFixture) -> None:
    target = gateway.router.pools["wrong-ca"].targets[0]
    target.tls_error = None  # logged once, when first seen: at start-up, before this test's capture
    with caplog.at_level(logging.ERROR, logger="llmaas.routing.pool"):
        wait_for(lambda: "TLS handshake failed" in caplog.text, timeout_s=5, what="the failure logged")
    assert "CERTIFICATE_VERIFY_FAILED" in caplog.text
    assert not gateway.router.pools["wrong-ca"].ready
    with pytest.raises(openai.APIStatusError) as refused:
        gateway.chat("wrong-ca")
    assert refused.value.status_code == 503


def test_the_relay_itself_refuses_a_certificate_of_another_ca(gateway: Gateway) -> None:
    """Not only the health check: a request to an upstream believed healthy fails over, then is a 503."""
    target = UpstreamTarget(base_url=f"{gateway.engine_url}/v1", model="fake", healthy=True,
                            tls=client_context(ca_file=gateway.stranger_ca))
    pool = UpstreamPool("m", [target])

    async def send() -> None:
        client = UpstreamClient(timeout_s=5)
        try:
            async with client.post(pool, "/chat/completions", json=lambda _: {"messages": HI}):
                raise AssertionError("the certificate was accepted")
        finally:
            await client.close()

    with pytest.raises(EngineUnavailable, match="No engine for this model accepted the request"):
        asyncio.run(send())
    assert not target.healthy and target.breaker.failures == 1


def test_a_client_certificate_is_presented_for_mutual_tls(gateway: Gateway) -> None:
    assert gateway.chat("mtls").choices[0].message.content == "Hello there"
    assert not gateway.router.pools["mtls-without-cert"].ready
    with pytest.raises(openai.APIStatusError) as refused:
        gateway.chat("mtls-without-cert")
    assert refused.value.status_code == 503


def test_tls_files_are_for_https_upstreams_only(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="TLS files apply to https:// upstreams only"):
        Upstream(url="http://vllm:8000/v1", ca_file=tmp_path / "ca.pem")
    with pytest.raises(ValueError, match="`client_key_file` needs `client_cert_file`"):
        Upstream(url="https://vllm:8000/v1", client_key_file=tmp_path / "key.pem")


def test_a_reload_reads_the_tls_files_again(tmp_path: Path) -> None:
    ca = make_pair(tmp_path / "ca").cert
    path = tmp_path / "catalog.toml"
    path.write_text('[[models]]\nid = "m"\nfamily = "f"\nowned_by = "o"\nlicense = "MIT"\n'
                    'capabilities = ["chat"]\ncontext_length = 4096\n'
                    f'upstreams = [{{url = "https://vllm:8443/v1", ca_file = "{ca}"}}]\n')
    settings = Settings(home=tmp_path, catalog_file=path)
    database = create_database_engine(settings.resolved_database_url)
    migrate(database)
    served = ServedCatalog(load_served_catalog(settings, database), settings=settings, database=database)
    target = served.router.pools["m"].targets[0]
    first = target.tls
    asyncio.run(served.reload())  # the catalog unchanged: a rotated CA file is read all the same
    assert served.router.pools["m"].targets[0] is target and target.tls is not first
    reloaded = target.tls
    ca.unlink()
    with pytest.raises(CatalogError, match=r"model 'm', upstream https://vllm:8443/v1: cannot use the CA"):
        asyncio.run(served.reload())
    assert target.tls is reloaded, "the running context stays"
    database.dispose()
