"""The gateway as production builds it, in its own process, in front of one upstream.

`create_app` with a SQLite database in a temporary home, a real API key issued by `KeyService`, a
one-model catalog, served by uvicorn with uvloop and httptools.
"""

from __future__ import annotations

import logging
import shutil
import sys
import tempfile
from multiprocessing.connection import Connection
from pathlib import Path

import uvicorn

from bench.common import pin
from llmaas.app import create_app
from llmaas.auth import KeyService
from llmaas.catalog import Catalog, ModelEntry, Upstream
from llmaas.settings import Settings
from llmaas.storage.database import create_database_engine, migrate


def bench_catalog(model_id: str, upstream_url: str) -> Catalog:
    return Catalog([ModelEntry(
        id=model_id, family="bench", owned_by="bench", capabilities=["chat", "completions"],
        context_length=8192, max_output_tokens=4096, license="MIT",
        upstreams=[Upstream(url=upstream_url)],
    )])


def serve(
    port: int,
    *,
    model_id: str,
    upstream_url: str,
    cpu: int | None,
    key_out: Connection,
    access_log: str | None = None,
) -> None:
    """Process entry point: build the gateway, send its API key through `key_out`, serve.

    `access_log` names a file that receives the INFO-level log as `llmaas serve` configures it
    (one JSON line per request); without it only warnings are logged.
    """
    pin(cpu)
    if access_log:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s",
            stream=open(access_log, "a"),  # noqa: SIM115 - lives as long as the process
        )
    home = Path(tempfile.mkdtemp(prefix="llmaas-bench-"))
    try:
        settings = Settings(home=home)
        database = create_database_engine(settings.resolved_database_url)
        migrate(database)
        secret = KeyService(database).create(name="bench").secret
        app = create_app(settings, catalog=bench_catalog(model_id, upstream_url), database=database)
        key_out.send(secret)
        key_out.close()
        uvicorn.Server(uvicorn.Config(
            app, host="127.0.0.1", port=port, loop="uvloop", http="httptools",
            access_log=False, log_level="warning", backlog=4096,
        )).run()
    finally:
        shutil.rmtree(home, ignore_errors=True)
        sys.stdout.flush()
