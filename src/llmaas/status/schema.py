"""What GET /status.json answers (and the HTML page shows): public facts about the models, nothing of
any tenant. Every list is bounded by the catalog's size."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

AVAILABILITY_TARGET_PERCENT = 99.0  # the platform's commitment, over 30 days


class Availability(BaseModel):
    """Percent of the measured minutes in which the model was up; null when no minute was measured."""

    last_24h: float | None = Field(description="Over the last 24 hours, in percent.")
    last_7d: float | None = Field(description="Over the last 7 days, in percent.")
    last_30d: float | None = Field(description="Over the last 30 days, in percent.")
    measured_minutes_30d: int = Field(description="Minutes of the last 30 days with a health probe.")


class Speed(BaseModel):
    """Streamed answers of the last hour, on every gateway replica together."""

    streams: int = Field(description="Streamed answers that produced a first token.")
    time_to_first_token_p50_ms: float | None = Field(
        description="Median time from the request to the first token, in milliseconds.")
    tokens_per_second: float | None = Field(
        description="Tokens generated after the first, divided by the time they took.")


class ModelStatus(BaseModel):
    id: str = Field(description="The catalog's model id.")
    state: Literal["up", "down"] = Field(description="Whether an engine for the model answers now.")
    lifecycle: Literal["preview", "active", "deprecated", "retired"] = Field(
        description="Where the model is in its lifecycle today.")
    availability: Availability
    meets_target: bool | None = Field(
        description="Whether the 30-day availability reaches the target; null without a measurement.")
    last_hour: Speed


class Incident(BaseModel):
    """A run of consecutive minutes in which the model was down."""

    model: str
    started_at: datetime = Field(description="The first minute down (UTC).")
    ended_at: datetime | None = Field(description="When it was up again (UTC); null while ongoing.")
    duration_minutes: int = Field(description="Minutes down.")


class Notice(BaseModel):
    """A model with a deprecation or retirement in the catalog."""

    model: str
    lifecycle: Literal["preview", "active", "deprecated", "retired"]
    deprecated_at: date | None = Field(description="When deprecation was announced.")
    retires_at: date | None = Field(description="From this day the model no longer answers.")
    successor: str | None = Field(description="The model to move to.")


class StatusReport(BaseModel):
    """GET /status.json."""

    generated_at: datetime = Field(description="When these figures were computed (UTC); at most "
                                   "15 seconds before the answer.")
    availability_target_percent: float = Field(
        AVAILABILITY_TARGET_PERCENT, description="The availability the platform commits to, over 30 days.")
    models: list[ModelStatus]
    incidents: list[Incident] = Field(
        description="The last 30 days, newest first; at most 20 per model.")
    notices: list[Notice] = Field(description="Deprecations and retirements, soonest retirement first.")
