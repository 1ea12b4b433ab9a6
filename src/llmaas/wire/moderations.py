"""The body of OpenAI's POST /v1/moderations (text inputs; this platform's category is
`prompt_injection`)."""

from __future__ import annotations

from pydantic import Field

from llmaas.wire.requests import RequestBody


class ModerationRequest(RequestBody):
    """A field it does not declare is refused (400 naming it), as on every other endpoint."""

    input: str | list[str] = Field(description="Text, or a list of up to 2048 texts, to screen.")
    model: str = Field(
        "moderation-default",
        description="The moderation model; OpenAI's names (omni-moderation-latest) are aliases of it.",
    )
