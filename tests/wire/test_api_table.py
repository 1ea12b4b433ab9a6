"""docs/api.md keeps up with the wire models: every declared request field is in its endpoint's table."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from llmaas.wire.moderations import ModerationRequest
from llmaas.wire.requests import (
    ChatCompletionRequest,
    CompletionRequest,
    EmbeddingRequest,
    RerankRequest,
    TranscriptionRequest,
    TranslationRequest,
)
from llmaas.wire.responses_api import CreateResponseRequest

API = Path(__file__).resolve().parents[2] / "docs" / "api.md"
EXTENSIONS = {"top_k", "min_p", "repetition_penalty"}  # in the "Extension fields" table


def table(endpoint: str) -> set[str]:
    """The field names the table under `## `POST endpoint`` writes in backquotes in its first column."""
    section = API.read_text().split(f"## `POST {endpoint}`", 1)[1].split("\n## ", 1)[0]
    rows = [line.split("|")[1] for line in section.splitlines() if line.startswith("| `")]
    return {name.removesuffix("[]") for row in rows for name in re.findall(r"`([^`]+)`", row)}


@pytest.mark.parametrize(("endpoint", "model"), [
    ("/v1/chat/completions", ChatCompletionRequest), ("/v1/completions", CompletionRequest),
    ("/v1/embeddings", EmbeddingRequest), ("/v1/rerank", RerankRequest),
    ("/v1/audio/transcriptions", TranscriptionRequest), ("/v1/audio/translations", TranslationRequest),
    ("/v1/moderations", ModerationRequest), ("/v1/responses", CreateResponseRequest),
])
def test_every_declared_field_is_in_its_table(endpoint: str, model: type[BaseModel]) -> None:
    documented = table(endpoint)
    missing = set(model.model_fields) - EXTENSIONS - documented
    assert not missing, f"document {sorted(missing)} in docs/api.md under POST {endpoint}"
