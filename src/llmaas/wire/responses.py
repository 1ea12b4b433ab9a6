"""Response bodies of the OpenAI API that the gateway writes itself (engines write the others).

OpenAI's fields come first, in its order; the catalog's follow, and OpenAI clients ignore them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class ModelObject(BaseModel):
    """One model of GET /v1/models."""

    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str
    family: str = Field(description="The model family, e.g. `qwen2.5`.")
    description: str = Field(description="What the model is for, in a sentence.")
    capabilities: list[str] = Field(description="chat, completions, tools, json, vision, embeddings, ...")
    context_length: int = Field(description="Prompt and answer together, in tokens.")
    max_output_tokens: int | None = Field(description="The most tokens one answer may have.")
    dimensions: int | None = Field(description="Embedding size, for embedding models.")
    languages: list[str] = Field(description="ISO 639-1 codes of the languages the model serves.")
    license: str = Field(description="The model's licence.")
    ip_indemnity: bool = Field(description="Whether the licence carries an IP indemnity.")
    pricing: dict[str, float] = Field(description="Prices in euros; prices that are zero are left out.")
    energy_kwh_per_million_tokens: float | None = Field(
        description="The operator's estimate of the energy a million tokens take, in kWh; null when "
        "the catalog gives none.")
    status: Literal["preview", "active", "deprecated", "retired"] = Field(
        description="Where the model is in its lifecycle today.")
    deprecated_at: str | None = Field(description="When deprecation was announced (ISO date).")
    retires_at: str | None = Field(description="From this day the model no longer answers (ISO date).")
    successor: str | None = Field(description="The model to move to.")
    aliases: list[str] = Field(description="Other names this model answers to.")
    ready: bool = Field(description="Whether an engine for the model is up now.")


class ModelList(BaseModel):
    """GET /v1/models."""

    object: Literal["list"] = "list"
    data: list[ModelObject]
