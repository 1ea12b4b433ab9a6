"""Gateway replicas for catalog-override tests: one app per replica, in front of a fake engine."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import openai
from fastapi import FastAPI
from sqlalchemy import Engine

from llmaas.app import create_app
from llmaas.auth import KeyService
from llmaas.catalog import Catalog, ModelEntry
from llmaas.settings import Settings
from tests.servers import serve

TOKEN = "admin-secret-token-0123456789-abcdef"


def model(model_id: str, upstream: str, **fields: Any) -> ModelEntry:
    return ModelEntry.model_validate({
        "id": model_id, "family": "test", "owned_by": "tests", "capabilities": ["chat"],
        "context_length": 4096, "license": "MIT", "description": f"{model_id} from the file",
        "pricing": {"input_per_million_tokens": 1, "output_per_million_tokens": 2},
        "upstreams": [{"url": f"{upstream}/v1", "model": "fake"}], **fields,
    })


def file_catalog(upstream: str) -> Catalog:
    return Catalog([model("chat-a", upstream), model("chat-b", upstream)], aliases={"default": "chat-a"})


@dataclass
class Replica:
    url: str
    app: FastAPI
    client: openai.OpenAI

    def admin(self, method: str, path: str, *, json: object = None, content: bytes | None = None,
              token: str = TOKEN) -> httpx.Response:
        return httpx.request(method, f"{self.url}/admin/api{path}", json=json, content=content,
                             headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})

    def models(self) -> dict[str, dict[str, Any]]:
        return {m.id: m.model_extra or {} for m in self.client.models.list()}


@contextmanager
def replica(database: Engine, home: Path, catalog: Catalog, *, poll_s: float = 60.0,
            catalog_file: Path | None = None) -> Iterator[Replica]:
    """A gateway app on `database`; `poll_s` is its catalog_poll_interval_s."""
    settings = Settings(home=home, admin_token=TOKEN, catalog_poll_interval_s=poll_s, health_interval_s=0.2,
                        catalog_file=catalog_file)
    secret = KeyService(database).create(name="tests").secret
    app = create_app(settings, catalog=catalog, database=database)
    with serve(app) as url, openai.OpenAI(base_url=f"{url}/v1", api_key=secret, max_retries=0) as client:
        yield Replica(url, app, client)
