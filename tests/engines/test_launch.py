"""Engine command lines from catalog entries, including an operator's own vision model."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from llmaas.catalog import Catalog, EmbeddedEngine, ModelEntry
from llmaas.catalog.catalog import CatalogError
from llmaas.engines import launch, supervisor
from llmaas.settings import Settings


def vision_catalog(tmp_path: Path) -> Catalog:
    (tmp_path / "vlm.gguf").write_bytes(b"GGUF")
    (tmp_path / "mmproj.gguf").write_bytes(b"GGUF")
    return Catalog([ModelEntry(
        id="my-vlm", family="f", owned_by="me", capabilities=["chat", "vision"], context_length=4096,
        license="Apache-2.0",
        engine=EmbeddedEngine(kind="llama", model_path=tmp_path / "vlm.gguf",
                              mmproj_path=tmp_path / "mmproj.gguf", parallel=2),
    )])


def test_an_operator_vision_model_gets_its_projector(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(launch, "ensure_llama_server", lambda cache_dir, **_: Path("/opt/llama-server"))
    settings = Settings(cache_dir=tmp_path, engine_base_port=21000, engine_threads=3)
    [spec] = launch.engine_specs(settings, vision_catalog(tmp_path))
    command = spec.command
    assert command[0] == "/opt/llama-server"
    assert command[command.index("--model") + 1] == str(tmp_path / "vlm.gguf")
    assert command[command.index("--mmproj") + 1] == str(tmp_path / "mmproj.gguf")
    assert command[command.index("--ctx-size") + 1] == str(4096 * 2)
    assert command[command.index("--threads") + 1] == "3"
    assert command[command.index("--alias") + 1] == "my-vlm"
    assert spec.base_url == f"http://127.0.0.1:{spec.port}/v1"


def test_a_missing_operator_file_is_reported_before_start(tmp_path: Path) -> None:
    catalog = vision_catalog(tmp_path)
    (tmp_path / "mmproj.gguf").unlink()
    with pytest.raises(FileNotFoundError, match=r"mmproj\.gguf"):
        launch.prepare(Settings(cache_dir=tmp_path), catalog)


def test_an_engine_needs_exactly_one_model_source() -> None:
    with pytest.raises(ValidationError, match="exactly one"):
        EmbeddedEngine(kind="llama")
    with pytest.raises(ValidationError, match="exactly one"):
        EmbeddedEngine(kind="llama", artifact="a", model_path=Path("/m.gguf"))


def test_replicas_get_their_own_ports_and_one_pool(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(launch, "ensure_llama_server", lambda cache_dir, **_: Path("/opt/llama-server"))
    (tmp_path / "m.gguf").write_bytes(b"GGUF")
    catalog = Catalog([ModelEntry(
        id="m", family="f", owned_by="me", capabilities=["chat"], context_length=512, license="MIT",
        engine=EmbeddedEngine(kind="llama", model_path=tmp_path / "m.gguf", replicas=3),
    )])
    specs = launch.engine_specs(Settings(cache_dir=tmp_path, engine_base_port=21100), catalog)
    assert len({spec.port for spec in specs}) == 3
    assert [u.url for u in launch.embedded_upstreams(specs)["m"]] == [spec.base_url for spec in specs]


def test_each_engine_answers_only_its_own_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(launch, "ensure_llama_server", lambda cache_dir, **_: Path("/opt/llama-server"))
    (tmp_path / "m.gguf").write_bytes(b"GGUF")
    (tmp_path / "e5").mkdir()
    catalog = Catalog([
        ModelEntry(id="m", family="f", owned_by="me", capabilities=["chat"], context_length=512,
                   license="MIT", engine=EmbeddedEngine(kind="llama", model_path=tmp_path / "m.gguf")),
        ModelEntry(id="e", family="f", owned_by="me", capabilities=["embeddings"], context_length=512,
                   license="MIT", engine=EmbeddedEngine(kind="embeddings", model_path=tmp_path / "e5")),
    ])
    llama, worker = launch.engine_specs(Settings(cache_dir=tmp_path, engine_base_port=21300), catalog)
    assert llama.api_key and worker.api_key and llama.api_key != worker.api_key
    assert llama.env == {"LLAMA_API_KEY": llama.api_key, "ORT_DISABLE_TELEMETRY": "1"}
    assert worker.env == {"LLMAAS_ENGINE_API_KEY": worker.api_key, "ORT_DISABLE_TELEMETRY": "1"}
    for spec in (llama, worker):  # the command line is visible to every user of the machine
        assert spec.api_key is not None and spec.api_key not in " ".join(spec.command)
    upstreams = launch.embedded_upstreams([llama, worker])
    assert (upstreams["m"][0].api_key, upstreams["e"][0].api_key) == (llama.api_key, worker.api_key)


def test_llama_server_keeps_no_content(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No prompt logging, no log file, no saved slots, no prompt cache file, no /slots monitor."""
    monkeypatch.setattr(launch, "ensure_llama_server", lambda cache_dir, **_: Path("/opt/llama-server"))
    settings = Settings(cache_dir=tmp_path, engine_base_port=21400)
    [spec] = launch.engine_specs(settings, vision_catalog(tmp_path))
    command = spec.command
    # info: its trace (4) and debug (5) levels print prompts
    assert command[command.index("--log-verbosity") + 1] == "3"
    assert "--no-slots" in command
    assert set(command) & launch.CONTENT_FLAGS == {"--log-verbosity"}


@pytest.mark.parametrize("flag", ["--verbose", "-lv=5", "--log-file", "--slot-save-path",
                                  "--log-prompts-dir", "--slots", "--prompt-cache"])
def test_a_catalog_may_not_turn_content_logging_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, flag: str
) -> None:
    monkeypatch.setattr(launch, "ensure_llama_server", lambda cache_dir, **_: Path("/opt/llama-server"))
    (tmp_path / "m.gguf").write_bytes(b"GGUF")
    catalog = Catalog([ModelEntry(
        id="m", family="f", owned_by="me", capabilities=["chat"], context_length=512, license="MIT",
        engine=EmbeddedEngine(kind="llama", model_path=tmp_path / "m.gguf", extra_args=[flag, "/tmp/x"]),
    )])
    with pytest.raises(CatalogError, match=flag.split("=")[0]):
        launch.engine_specs(Settings(cache_dir=tmp_path), catalog)


def test_engines_inherit_no_llama_arg_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLAMA_ARG_LOG_FILE", "/tmp/prompts.log")
    monkeypatch.setenv("LLMAAS_SOMETHING", "kept")
    inherited = supervisor._inherited_environment()
    assert "LLAMA_ARG_LOG_FILE" not in inherited and inherited["LLMAAS_SOMETHING"] == "kept"
