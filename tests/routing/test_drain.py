"""SIGTERM under load: the replica stops accepting, finishes what is in flight, then exits cleanly."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
from sqlalchemy import Engine

from llmaas.auth import KeyService
from llmaas.storage.database import create_database_engine, migrate
from tests.fakes import FakeEngine
from tests.servers import free_port, serve, wait_for


def test_sigterm_during_load_fails_no_request(tmp_path: Path) -> None:
    engine = FakeEngine(model="fake", mode="slow")  # every answer takes 0.5 s
    database = create_database_engine(f"sqlite:///{tmp_path / 'llmaas.db'}")
    migrate(database)
    secret = KeyService(database).create(name="drain").secret
    with serve(engine.app()) as upstream:
        catalog = tmp_path / "catalog.toml"
        catalog.write_text(
            '[[models]]\nid = "m"\nfamily = "f"\nowned_by = "o"\nlicense = "MIT"\ncapabilities = ["chat"]\n'
            f'context_length = 4096\nupstreams = [{{url = "{upstream}/v1", model = "fake"}}]\n'
        )
        port = free_port()
        env = {**os.environ, "LLMAAS_HOME": str(tmp_path), "LLMAAS_HEALTH_INTERVAL_S": "0.2"}
        process = subprocess.Popen(
            [sys.executable, "-m", "llmaas", "serve", "--no-embedded", "--catalog", str(catalog),
             "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_for(lambda: httpx.get(f"{url}/ready").status_code == 200, process=process,
                     what="serve ready")

            async def load() -> list[int]:
                async with httpx.AsyncClient(timeout=30) as client:
                    async def one() -> int:
                        response = await client.post(
                            f"{url}/v1/chat/completions",
                            json={"model": "m", "messages": [{"role": "user", "content": "Hi"}]},
                            headers={"Authorization": f"Bearer {secret}"})
                        return response.status_code

                    requests = [asyncio.create_task(one()) for _ in range(12)]
                    await asyncio.sleep(0.25)  # all twelve are in flight at the engine
                    process.send_signal(signal.SIGTERM)
                    return list(await asyncio.gather(*requests))

            assert asyncio.run(load()) == [200] * 12
            assert process.wait(30) == 0
            assert len(engine.requests) == 12
        finally:
            if process.poll() is None:
                process.kill()


def test_a_draining_replica_reports_not_ready(tmp_path: Path) -> None:
    from llmaas.app import create_app
    from llmaas.catalog import Catalog
    from llmaas.settings import Settings

    app = create_app(Settings(home=tmp_path), catalog=Catalog([]), database=database_at(tmp_path))
    with serve(app) as url:
        assert httpx.get(f"{url}/ready").status_code == 200
        app.state.draining = True
        response = httpx.get(f"{url}/ready")
        assert response.status_code == 503 and response.json()["status"] == "draining"


def database_at(path: Path) -> Engine:
    engine: Engine = create_database_engine(f"sqlite:///{path / 'llmaas.db'}")
    migrate(engine)
    return engine
