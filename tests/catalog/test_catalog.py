from __future__ import annotations

from pathlib import Path

import pytest

from llmaas.catalog import Capability, load_catalog
from llmaas.catalog.catalog import CatalogError
from llmaas.errors import ModelNotFound


def test_bundled_catalog_loads_and_every_embedded_model_names_an_artifact() -> None:
    catalog = load_catalog()
    assert len(catalog) >= 7
    gemma = catalog.get("gemma-3-270m")
    assert not gemma.supports(Capability.CHAT) and gemma.supports(Capability.COMPLETIONS)
    from llmaas.engines.assets import ARTIFACTS

    for entry in catalog:
        assert entry.engine is not None
        if entry.engine.kind == "guardrail":  # its model ships in the package, pinned in classifier.py
            assert entry.engine.artifact is None and entry.supports(Capability.MODERATION)
        else:
            assert entry.engine.artifact in ARTIFACTS


def test_unknown_model_is_model_not_found() -> None:
    with pytest.raises(ModelNotFound) as caught:
        load_catalog().get("nope")
    assert caught.value.param == "model"


def test_invalid_catalog_says_where(tmp_path: Path) -> None:
    path = tmp_path / "catalog.toml"
    path.write_text('[[models]]\nid = "x"\nfamily = "f"\nowned_by = "o"\nlicense = "MIT"\n'
                    'capabilities = ["telepathy"]\ncontext_length = 10\n'
                    'upstreams = [{url = "http://vllm:8000/v1"}]\n')
    with pytest.raises(CatalogError, match=r"models\.0\.capabilities"):
        load_catalog(path)


def test_a_model_must_be_served_somewhere(tmp_path: Path) -> None:
    path = tmp_path / "catalog.toml"
    path.write_text('[[models]]\nid = "x"\nfamily = "f"\nowned_by = "o"\nlicense = "MIT"\n'
                    'capabilities = ["chat"]\ncontext_length = 10\n')
    with pytest.raises(CatalogError, match="neither an embedded engine nor an upstream"):
        load_catalog(path)


def test_duplicate_ids_are_refused(tmp_path: Path) -> None:
    model = ('[[models]]\nid = "x"\nfamily = "f"\nowned_by = "o"\nlicense = "MIT"\n'
             'capabilities = ["chat"]\ncontext_length = 10\nupstreams = [{url = "http://a/v1"}]\n')
    path = tmp_path / "catalog.toml"
    path.write_text(model + model)
    with pytest.raises(CatalogError, match="twice"):
        load_catalog(path)


def test_broken_toml_is_a_catalog_error(tmp_path: Path) -> None:
    path = tmp_path / "catalog.toml"
    path.write_text("[[models]\n")
    with pytest.raises(CatalogError, match="not valid TOML"):
        load_catalog(path)
