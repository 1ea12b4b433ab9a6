"""Reloading the catalog without a restart: through the admin API, and by SIGHUP from the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

from llmaas.app import create_app
from llmaas.auth import KeyService
from llmaas.catalog import Catalog, ModelEntry, load_catalog
from llmaas.routing import Router
from llmaas.settings import Settings
from llmaas.storage.database import create_database_engine, migrate
from tests.fakes import FakeEngine
from tests.servers import free_port, serve, wait_for

ADMIN_TOKEN = "reload-admin-token-0123456789-abcdef"


def entry(model_id: str, upstream: str, extra: str = "") -> str:
    return (f'[[models]]\nid = "{model_id}"\nfamily = "f"\nowned_by = "o"\nlicense = "MIT"\n'
            f'capabilities = ["chat"]\ncontext_length = 4096\n{extra}'
            f'upstreams = [{{url = "{upstream}/v1", model = "fake"}}]\n\n')


def test_the_admin_api_reloads_the_catalog_and_refuses_a_broken_one(tmp_path: Path) -> None:
    engine = FakeEngine(model="fake")
    database = create_database_engine(f"sqlite:///{tmp_path / 'llmaas.db'}")
    migrate(database)
    key = KeyService(database).create(name="k").secret
    with serve(engine.app()) as upstream:
        path = tmp_path / "catalog.toml"
        path.write_text(entry("first", upstream))
        settings = Settings(home=tmp_path, catalog_file=path, admin_token=ADMIN_TOKEN, health_interval_s=0.2)
        app = create_app(settings, catalog=load_catalog(path), database=database)
        with serve(app) as url:
            admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
            user = {"Authorization": f"Bearer {key}"}
            router = app.state.served_catalog.router
            before = router.pools["first"].targets[0]
            path.write_text(entry("first", upstream, 'deprecated_at = 2026-01-01\nsuccessor = "second"\n')
                            + entry("second", upstream))
            reloaded = httpx.post(f"{url}/admin/api/catalog/reload", headers=admin)
            assert reloaded.json()["models"] == ["first", "second"]
            assert router.pools["first"].targets[0] is before, "health and breaker survive"
            models = {m["id"]: m for m in httpx.get(f"{url}/v1/models", headers=user).json()["data"]}
            assert models["first"]["status"] == "deprecated" and "second" in models
            path.write_text("[[models]]\nid = 1\n")
            refused = httpx.post(f"{url}/admin/api/catalog/reload", headers=admin)
            assert refused.status_code == 400 and "not reloaded" in refused.json()["error"]["message"]
            assert len(httpx.get(f"{url}/v1/models", headers=user).json()["data"]) == 2


def test_models_reload_signals_the_running_server(tmp_path: Path) -> None:
    engine = FakeEngine(model="fake")
    with serve(engine.app()) as upstream:
        path = tmp_path / "catalog.toml"
        path.write_text(entry("first", upstream))
        env = {**os.environ, "LLMAAS_HOME": str(tmp_path), "LLMAAS_ADMIN_TOKEN": ADMIN_TOKEN}
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "llmaas", "serve", "--no-embedded", "--catalog", str(path),
             "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            url = f"http://127.0.0.1:{port}"
            wait_for(lambda: httpx.get(f"{url}/health").status_code == 200, process=server)
            path.write_text(entry("first", upstream) + entry("second", upstream))
            cli = subprocess.run([sys.executable, "-m", "llmaas", "models", "reload"], env=env,
                                 capture_output=True, text=True, check=False)
            assert cli.returncode == 0, cli.stderr
            admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
            wait_for(lambda: len(httpx.get(f"{url}/admin/api/tiers", headers=admin).json()) > 0,
                     process=server)
            key = httpx.post(f"{url}/admin/api/keys", headers=admin, json={"name": "k"}).json()["secret"]
            wait_for(lambda: len(httpx.get(f"{url}/v1/models",
                                           headers={"Authorization": f"Bearer {key}"}).json()["data"]) == 2,
                     process=server, what="the reloaded catalog")
        finally:
            server.terminate()
            server.wait(30)



def test_a_changed_upstream_key_applies_and_the_target_keeps_its_state() -> None:
    def catalog(api_key: str | None) -> Catalog:
        return Catalog([ModelEntry.model_validate({
            "id": "m", "family": "f", "owned_by": "o", "capabilities": ["chat"], "context_length": 8,
            "license": "MIT", "upstreams": [{"url": "http://vllm:8000/v1", "api_key": api_key}]})])

    router = Router.from_catalog(catalog("old-key"), {})
    target = router.pools["m"].targets[0]
    target.healthy = True
    router.replace(Router.from_catalog(catalog("new-key"), {}).pools)
    assert router.pools["m"].targets[0] is target and target.healthy
    assert target.headers == {"Authorization": "Bearer new-key"}
