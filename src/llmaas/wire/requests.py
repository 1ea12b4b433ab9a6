"""Request bodies of the OpenAI API, in OpenAI's field order and names.

Unknown fields are kept (`extra="allow"`) and forwarded: engines such as vLLM and llama.cpp accept
extensions (`top_k`, `min_p`, `repetition_penalty`, ...) that clients rely on.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class WireModel(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)


class ImageURL(WireModel):
    url: str
    detail: Literal["auto", "low", "high"] | None = None


class TextPart(WireModel):
    type: Literal["text"]
    text: str


class ImagePart(WireModel):
    type: Literal["image_url"]
    image_url: ImageURL


ContentPart = Annotated[TextPart | ImagePart, Field(discriminator="type")]


class FunctionCall(WireModel):
    name: str
    arguments: str


class ToolCall(WireModel):
    id: str
    type: Literal["function"] = "function"
    function: FunctionCall


class ChatMessage(WireModel):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = None
    name: str | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None

    def images(self) -> list[ImageURL]:
        if not isinstance(self.content, list):
            return []
        return [part.image_url for part in self.content if isinstance(part, ImagePart)]


class FunctionDefinition(WireModel):
    name: str = Field(min_length=1, max_length=64)
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class Tool(WireModel):
    type: Literal["function"]
    function: FunctionDefinition


class NamedToolChoice(WireModel):
    type: Literal["function"]
    function: dict[str, str]


class JSONSchemaFormat(WireModel):
    name: str
    description: str | None = None
    schema_: dict[str, Any] | None = Field(None, alias="schema")
    strict: bool | None = None


class ResponseFormat(WireModel):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JSONSchemaFormat | None = None


class StreamOptions(WireModel):
    include_usage: bool | None = None


Stop = str | list[str] | None


class ChatCompletionRequest(WireModel):
    messages: list[ChatMessage] = Field(min_length=1)
    model: str
    frequency_penalty: float | None = Field(None, ge=-2, le=2)
    logit_bias: dict[str, float] | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = Field(None, ge=0, le=20)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    n: int | None = Field(None, ge=1, le=1, description="Only one choice per request is served.")
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    response_format: ResponseFormat | None = None
    seed: int | None = None
    stop: Stop = None
    stream: bool | None = None
    stream_options: StreamOptions | None = None
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    tools: list[Tool] | None = None
    tool_choice: Literal["none", "auto", "required"] | NamedToolChoice | None = None
    parallel_tool_calls: bool | None = None
    user: str | None = None


class CompletionRequest(WireModel):
    model: str
    prompt: str | list[str]
    echo: bool | None = None
    frequency_penalty: float | None = Field(None, ge=-2, le=2)
    logit_bias: dict[str, float] | None = None
    logprobs: int | None = Field(None, ge=0, le=5)
    max_tokens: int | None = Field(None, ge=1)
    n: int | None = Field(None, ge=1, le=1, description="Only one choice per request is served.")
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    seed: int | None = None
    stop: Stop = None
    stream: bool | None = None
    stream_options: StreamOptions | None = None
    suffix: str | None = None
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    user: str | None = None


class EmbeddingRequest(WireModel):
    input: str | list[str] = Field(description="Text, or a list of up to 2048 texts.")
    model: str
    encoding_format: Literal["float", "base64"] | None = None
    dimensions: int | None = Field(None, ge=1)
    user: str | None = None


class RerankDocument(WireModel):
    text: str = Field(min_length=1)


class RerankRequest(WireModel):
    """The Cohere/Jina shape that vLLM serves at /v1/rerank."""

    model: str
    query: str = Field(min_length=1)
    documents: list[str | RerankDocument] = Field(min_length=1, max_length=1000)
    top_n: int | None = Field(None, ge=1)
    return_documents: bool | None = None

    def texts(self) -> list[str]:
        return [d if isinstance(d, str) else d.text for d in self.documents]


TranscriptionFormat = Literal["json", "text", "srt", "vtt", "verbose_json"]


class TranscriptionRequest(WireModel):
    """The form fields of POST /v1/audio/transcriptions; the audio file travels beside them."""

    model: str = Field(min_length=1)
    language: str | None = None
    prompt: str | None = None
    response_format: TranscriptionFormat | None = None
    temperature: float | None = Field(None, ge=0, le=1)
    timestamp_granularities: list[str] | None = Field(
        None, description="Sent as `timestamp_granularities[]`; the engine checks the values.")
