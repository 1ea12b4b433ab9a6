"""From catalog entries to engine command lines: which binary, which model file, which port."""

from __future__ import annotations

import secrets
import sys
from importlib import resources
from pathlib import Path

from rich.console import Console

from llmaas.catalog import Catalog, EmbeddedEngine, ModelEntry, Upstream
from llmaas.catalog.catalog import CatalogError
from llmaas.engines.assets import ensure_artifact
from llmaas.engines.llama_build import ensure_llama_server
from llmaas.engines.supervisor import EngineSpec, free_port
from llmaas.engines.workers.common import ENGINE_KEY_VARIABLE
from llmaas.settings import Settings

_WORKER_MODULES = {
    "embeddings": "llmaas.engines.workers.embeddings",
    "transcription": "llmaas.engines.workers.transcription",
    "guardrail": "llmaas.engines.workers.guardrail",
}

# llama-server flags that would write what clients send to a file or a log, or expose it: prompts at
# a verbose log level, a log file, a prompt log directory, saved slots (their KV cache), the /slots
# monitor. The platform sets the safe values itself; a catalog's `extra_args` may not override them.
CONTENT_FLAGS = frozenset({
    "-v", "--verbose", "--log-verbose", "-lv", "--verbosity", "--log-verbosity", "--log-file",
    "--log-prompts-dir", "--slot-save-path", "--slots", "--prompt-cache", "--prompt-cache-all",
})

# What every engine's environment says, over the platform's own. onnxruntime's Linux wheels (1.31 on)
# carry Microsoft's 1DS telemetry, on by default: at import it writes a device id and an event store
# under ~/.cache/Microsoft and uploads a process event when it can. This is its full opt-out.
ENGINE_ENVIRONMENT = {"ORT_DISABLE_TELEMETRY": "1"}


def embedded_models(catalog: Catalog) -> list[ModelEntry]:
    return [entry for entry in catalog if entry.engine is not None]


def prepare(settings: Settings, catalog: Catalog, console: Console | None = None) -> None:
    """Build the engine and fetch every bundled model the catalog needs (slow only the first time)."""
    entries = embedded_models(catalog)
    for entry in entries:
        assert entry.engine is not None
        for path in filter(None, (entry.engine.model_path, entry.engine.mmproj_path)):
            if not path.exists():
                raise FileNotFoundError(f"model `{entry.id}`: {path} does not exist")
    if any(entry.engine and entry.engine.kind == "llama" for entry in entries):
        ensure_llama_server(settings.cache_dir, console=console)
    for entry in entries:
        assert entry.engine is not None
        for artifact in filter(None, (entry.engine.artifact, entry.engine.mmproj_artifact)):
            ensure_artifact(artifact, settings.cache_dir, console=console)


def engine_specs(settings: Settings, catalog: Catalog) -> list[EngineSpec]:
    specs = []
    port = settings.engine_base_port
    for entry in embedded_models(catalog):
        assert entry.engine is not None
        for _ in range(entry.engine.replicas):
            port = free_port(port)
            llama = entry.engine.kind == "llama"
            # Loopback is open to every user of the machine: each engine answers only its secret,
            # given in its environment (readable by this user alone), never on its command line.
            key = secrets.token_urlsafe(32)
            specs.append(EngineSpec(
                entry.id, _command(settings, entry, entry.engine, port), port,
                env={**ENGINE_ENVIRONMENT, "LLAMA_API_KEY" if llama else ENGINE_KEY_VARIABLE: key},
                cache_isolation=entry.engine.cache_isolation if llama else "off", api_key=key,
            ))
            port += 1
    return specs


def embedded_upstreams(specs: list[EngineSpec]) -> dict[str, list[Upstream]]:
    upstreams: dict[str, list[Upstream]] = {}
    for spec in specs:
        upstreams.setdefault(spec.model_id, []).append(
            Upstream(url=spec.base_url, api_key=spec.api_key, cache_isolation=spec.cache_isolation))
    return upstreams


def _command(settings: Settings, entry: ModelEntry, engine: EmbeddedEngine, port: int) -> list[str]:
    common = ["--host", "127.0.0.1", "--port", str(port)]
    if engine.kind == "llama":
        command = [
            str(ensure_llama_server(settings.cache_dir)),
            "--model", str(_model_location(settings, engine)),
            "--alias", entry.id,
            *common,
            "--threads", str(settings.engine_threads),
            "--parallel", str(engine.parallel),
            # Each slot gets exactly the model's advertised context, no more: a prompt that would
            # not fit on another deployment of the same catalog must not fit here either.
            "--ctx-size", str(entry.context_length * engine.parallel),
            "--no-kv-unified",
            "--jinja",  # the model's own chat template: tool calls and JSON schemas
            "--no-webui",
            # No content in the engine's own output or files: info, not the trace and debug levels
            # that print prompts; no /slots monitor (it shows a slot's prompt); no slot saving and
            # no prompt log (both off by default, and not allowed in extra_args below).
            "--log-verbosity", "3",
            "--no-slots",
        ]
        if engine.cache_isolation == "no_reuse":
            # Its prompt cache in RAM would load another tenant's prompt into a slot (and hold it).
            command += ["--cache-ram", "0"]
        if engine.mmproj_artifact:
            mmproj = ensure_artifact(engine.mmproj_artifact, settings.cache_dir)
            command += ["--mmproj", str(_single_file(mmproj))]
        elif engine.mmproj_path:
            command += ["--mmproj", str(engine.mmproj_path)]
        if refused := sorted({arg.split("=", 1)[0] for arg in engine.extra_args} & CONTENT_FLAGS):
            raise CatalogError(f"model `{entry.id}`: extra_args may not set {', '.join(refused)}: "
                               "it would let the engine log or keep what clients send")
        return command + engine.extra_args
    return [
        sys.executable, "-m", _WORKER_MODULES[engine.kind],
        "--model-dir", str(_model_location(settings, engine)),
        "--model-id", entry.id,
        *common,
        "--threads", str(settings.engine_threads),
        *_worker_args(settings, engine),
        *engine.extra_args,
    ]


def _worker_args(settings: Settings, engine: EmbeddedEngine) -> list[str]:
    if engine.kind == "guardrail" and settings.guardrail_threshold is not None:
        return ["--threshold", str(settings.guardrail_threshold)]
    return []


def _model_location(settings: Settings, engine: EmbeddedEngine) -> Path:
    """The operator's own path, or the bundled artifact (a directory; llama takes its GGUF file)."""
    if engine.model_path is not None:
        return engine.model_path
    if engine.kind == "guardrail":  # the packaged, sha256-pinned classifier
        return Path(str(resources.files("llmaas.guardrails").joinpath("model")))
    assert engine.artifact is not None
    directory = ensure_artifact(engine.artifact, settings.cache_dir)
    return directory / "model.gguf" if engine.kind == "llama" else directory


def _single_file(directory: Path) -> Path:
    files = [path for path in directory.iterdir() if path.suffix == ".gguf"]
    if len(files) != 1:
        raise RuntimeError(f"expected one .gguf projector in {directory}, found {len(files)}")
    return files[0]
