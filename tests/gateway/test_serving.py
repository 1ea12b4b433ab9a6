"""ServedCatalog: swaps keep the upstreams' state, and an override write is swapped in where it was made."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from llmaas.catalog import Catalog, ModelEntry
from llmaas.catalog.store import OverrideStore
from llmaas.gateway import ServedCatalog
from llmaas.settings import Settings


def catalog(upstream: str = "http://vllm:8000/v1", **fields: Any) -> Catalog:
    return Catalog([ModelEntry.model_validate({
        "id": "m", "family": "f", "owned_by": "o", "capabilities": ["chat"], "context_length": 8,
        "license": "MIT", "upstreams": [{"url": upstream}], **fields})])


def test_a_swap_rebuilds_the_pools_only_when_upstreams_changed(database: Engine, tmp_path: Path) -> None:
    served = ServedCatalog(catalog(), settings=Settings(home=tmp_path), database=database)
    pools = served.router.pools
    described = catalog(description="new words")
    served.install(described)
    assert served.catalog is described and served.router.pools is pools
    served.install(catalog("http://other:8000/v1"))
    assert served.router.pools is not pools
    assert served.router.pools["m"].targets[0].base_url == "http://other:8000/v1"


def test_an_override_write_is_served_at_once(database: Engine, tmp_path: Path) -> None:
    served = ServedCatalog(catalog(), settings=Settings(home=tmp_path), database=database)

    def write(store: OverrideStore, base: Catalog) -> Catalog:
        return store.set_model("m", {"license": "Apache-2.0"}, base=base, actor="tests")

    overrides = asyncio.run(served.change(write))
    assert overrides.models["m"].fields == {"license": "Apache-2.0"}
    assert served.catalog.get("m").license == "Apache-2.0"
    assert asyncio.run(served.overrides()) == overrides
