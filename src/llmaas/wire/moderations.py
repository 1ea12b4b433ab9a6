"""The body of OpenAI's POST /v1/moderations (text inputs; this platform's category is
`prompt_injection`)."""

from __future__ import annotations

from pydantic import Field

from llmaas.wire.requests import WireModel


class ModerationRequest(WireModel):
    input: str | list[str] = Field(description="Text, or a list of up to 2048 texts, to screen.")
    model: str = Field(
        "moderation-default",
        description="The moderation model; OpenAI's names (omni-moderation-latest) are aliases of it.",
    )
