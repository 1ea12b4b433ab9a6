"""Catalog entries as the operator writes them in TOML, validated on load."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Capability(StrEnum):
    CHAT = "chat"
    COMPLETIONS = "completions"
    TOOLS = "tools"
    JSON = "json"
    VISION = "vision"
    EMBEDDINGS = "embeddings"
    RERANK = "rerank"
    TRANSCRIPTION = "transcription"
    TRANSLATION = "translation"  # speech to English text
    MODERATION = "moderation"


# How an engine's prompt cache is kept from telling one tenant about another's prompts: a hit is
# faster and counted in the usage, so a guess of another tenant's prompt prefix could be checked.
CacheIsolation = Literal["salt", "no_reuse", "off"]


class EmbeddedEngine(BaseModel):
    """A local worker process that `llmaas serve` starts for this model."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["llama", "embeddings", "transcription", "guardrail"]
    artifact: str | None = Field(None, description="Bundled model artifact (see engines/assets.py).")
    model_path: Path | None = Field(
        None, description="The operator's own model: a GGUF file for llama, a directory for workers."
    )
    parallel: int = Field(4, ge=1, description="Concurrent sequences (llama.cpp slots).")
    replicas: int = Field(1, ge=1, description="Engine processes; the gateway balances and fails over.")
    mmproj_artifact: str | None = Field(
        None, description="Bundled multimodal projector for a vision GGUF model."
    )
    mmproj_path: Path | None = Field(
        None, description="The operator's own multimodal projector (GGUF) for a vision model."
    )
    extra_args: list[str] = Field(default_factory=list, description="Passed verbatim to the engine.")
    cache_isolation: Literal["no_reuse", "off"] = Field(
        "no_reuse", description="llama: `no_reuse` turns the prompt cache off (`cache_prompt: false`, "
        "no `--cache-ram`), so no tenant reuses another's prefix; `off` keeps it, for one tenant only.")

    @model_validator(mode="after")
    def _one_source(self) -> EmbeddedEngine:
        if self.kind == "guardrail":  # its model ships in the package; `model_path` may replace it
            if self.artifact is not None:
                raise ValueError("the guardrail's model is packaged: give no `artifact`")
        elif (self.artifact is None) == (self.model_path is None):
            raise ValueError("give exactly one of `artifact` and `model_path`")
        if self.mmproj_artifact is not None and self.mmproj_path is not None:
            raise ValueError("give at most one of `mmproj_artifact` and `mmproj_path`")
        return self


class Upstream(BaseModel):
    """An OpenAI-compatible server (vLLM, Ollama, llama.cpp, TGI) that serves this model."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(description="Base URL, up to and including /v1.")
    model: str | None = Field(None, description="The name the upstream knows; defaults to the id.")
    api_key: str | None = Field(None, description="Bearer token the upstream expects, if any.")
    weight: float = Field(
        1.0, gt=0, description="Its share of the model's traffic, relative to the model's other upstreams."
    )
    ca_file: Path | None = Field(
        None, description="CA bundle (PEM) that verifies this https:// upstream; else `upstream_ca_file`, "
        "else the system's CAs."
    )
    client_cert_file: Path | None = Field(
        None, description="Client certificate (PEM) presented to this upstream, for mutual TLS."
    )
    client_key_file: Path | None = Field(
        None, description="The client certificate's key (PEM), unless `client_cert_file` holds it."
    )

    cache_isolation: CacheIsolation = Field(
        "salt", description="Generation requests carry a per-tenant `cache_salt` (vLLM), or "
        "`cache_prompt: false` (`no_reuse`, llama.cpp server), or nothing (`off`: one tenant, or no cache).",
    )

    @model_validator(mode="after")
    def _tls_needs_https(self) -> Upstream:
        if self.client_key_file is not None and self.client_cert_file is None:
            raise ValueError(f"upstream {self.url}: `client_key_file` needs `client_cert_file`")
        given = self.ca_file or self.client_cert_file
        if given is not None and not self.url.startswith("https://"):
            raise ValueError(f"upstream {self.url}: TLS files apply to https:// upstreams only")
        return self


class Pricing(BaseModel):
    """Prices in euros, to the nano-euro; every started audio minute is billed."""

    model_config = ConfigDict(extra="forbid")

    input_per_million_tokens: Decimal = Field(Decimal(0), ge=0, decimal_places=9)
    output_per_million_tokens: Decimal = Field(Decimal(0), ge=0, decimal_places=9)
    per_audio_minute: Decimal = Field(Decimal(0), ge=0, decimal_places=9)
    per_thousand_documents: Decimal = Field(Decimal(0), ge=0, decimal_places=9, description="Rerank.")

    @cached_property
    def nano(self) -> tuple[int, int, int, int]:
        """The four prices in whole nano-euros (exact: at most 9 decimals), for integer arithmetic."""
        return tuple(int(price.scaleb(9)) for price in (  # type: ignore[return-value]
            self.input_per_million_tokens, self.output_per_million_tokens, self.per_audio_minute,
            self.per_thousand_documents))


Status = Literal["preview", "active", "deprecated", "retired"]


class ModelEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    family: str
    owned_by: str
    description: str = ""
    capabilities: list[Capability]
    context_length: int = Field(gt=0)
    max_output_tokens: int | None = Field(None, gt=0)
    languages: list[str] = Field(default_factory=list)
    license: str
    ip_indemnity: bool = Field(
        False, description="Whether the licence carries an IP indemnity from the model's provider."
    )
    dimensions: int | None = Field(None, description="Embedding size, for embedding models.")
    pricing: Pricing = Field(default_factory=Pricing)
    energy_kwh_per_million_tokens: float = Field(
        0.0, ge=0, description="Estimated energy, for the usage ledger's footprint figures."
    )
    engine: EmbeddedEngine | None = None
    upstreams: list[Upstream] = Field(default_factory=list)
    status: Status = Field("active", description="Lifecycle; dates below move it on by themselves.")
    deprecated_at: date | None = Field(None, description="When deprecation was announced.")
    retires_at: date | None = Field(None, description="From this day the model no longer answers.")
    successor: str | None = Field(None, description="The model to move to.")
    on_retired: Literal["refuse", "redirect"] = Field(
        "refuse", description="After retirement: answer 410, or let the successor answer."
    )

    @model_validator(mode="after")
    def _served_somewhere(self) -> ModelEntry:
        if self.engine is None and not self.upstreams:
            raise ValueError(f"model {self.id!r} has neither an embedded engine nor an upstream")
        if (self.retires_at is not None or self.status in ("deprecated", "retired")) and (
            self.deprecated_at is None
        ):
            raise ValueError(f"model {self.id!r} is retired or retiring but has no `deprecated_at`")
        if self.on_retired == "redirect" and self.successor is None:
            raise ValueError(f"model {self.id!r} redirects after retirement but names no successor")
        return self

    def supports(self, capability: Capability) -> bool:
        return capability in self.capabilities
