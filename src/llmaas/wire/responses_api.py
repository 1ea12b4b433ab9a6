"""The request body of OpenAI's Responses API (POST /v1/responses), in OpenAI's field order and names.

Served stateless: nothing is stored, so a conversation travels whole in `input` (its earlier turns,
the model's function calls and their outputs as items), as with `store: false` at OpenAI. The fields
that would need a stored response (`store: true`, `previous_response_id`, `conversation`,
`background`) or a feature the platform lacks are declared so that the gateway can refuse them with
a 400 naming them (gateway/responses.py); the bounds are those of chat (requests.py).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, PrivateAttr, Tag

from llmaas.wire.requests import (
    MAX_MESSAGES,
    MAX_TOOLS,
    CalledName,
    CallId,
    ChatCompletionRequest,
    DefinedName,
    JSONObject,
    MaxTokens,
    Metadata,
    ModelName,
    NoEffect,
    PromptCacheKey,
    PromptCacheOptions,
    PromptCacheRetention,
    Refused,
    RequestBody,
    SafetyIdentifier,
    ServiceTier,
    ToolChoiceMode,
    WireModel,
    str_or_object,
)


class InputText(WireModel):
    type: Literal["input_text"]
    text: str


class InputImage(WireModel):
    type: Literal["input_image"]
    image_url: str | None = None  # a data URL: nothing is fetched (the gateway checks it as chat's)
    file_id: str | None = None  # refused: no files are stored
    detail: Literal["auto", "low", "high"] | None = None


class OutputText(WireModel):
    """An earlier answer's text, replayed in an assistant message."""

    type: Literal["output_text"]
    text: str


class Refusal(WireModel):
    type: Literal["refusal"]
    refusal: str


InputPart = Annotated[InputText | InputImage | OutputText | Refusal, Field(discriminator="type")]


class Message(WireModel):
    """A turn: a client's (`user`), the application's (`system`, `developer`) or an earlier answer."""

    type: Literal["message"] = "message"
    role: Literal["user", "assistant", "system", "developer"]
    content: str | list[InputPart]


class FunctionCallItem(WireModel):
    """A call the model made in an earlier turn, sent back with its output."""

    type: Literal["function_call"]
    call_id: CallId = Field(min_length=1)
    name: CalledName
    arguments: str


class FunctionCallOutput(WireModel):
    """What the application's function returned for `call_id`."""

    type: Literal["function_call_output"]
    call_id: CallId = Field(min_length=1)
    output: str | list[InputPart]


def _item_type(value: Any) -> str:
    """A message may leave out its `type` (OpenAI's "easy" input message)."""
    if isinstance(value, dict):
        return str(value.get("type", "message"))
    return str(getattr(value, "type", "message"))


InputItem = Annotated[
    Annotated[Message, Tag("message")]
    | Annotated[FunctionCallItem, Tag("function_call")]
    | Annotated[FunctionCallOutput, Tag("function_call_output")],
    Discriminator(_item_type),
]


class FunctionTool(WireModel):
    type: Literal["function"]
    name: DefinedName
    description: str | None = None
    parameters: JSONObject | None = None
    strict: bool | None = None


class FunctionChoice(WireModel):
    type: Literal["function"]
    name: CalledName


ToolChoice = Annotated[ToolChoiceMode | Annotated[FunctionChoice, Tag("object")],
                       Discriminator(str_or_object)]


class TextFormat(WireModel):
    type: Literal["text", "json_object", "json_schema"]
    name: DefinedName | None = None  # json_schema's
    description: str | None = None
    schema_: JSONObject | None = Field(None, alias="schema")
    strict: bool | None = None


class TextOptions(WireModel):
    format: TextFormat | None = None
    verbosity: str | None = Field(None, description="Refused when set: see docs/api.md.")


class ResponseStreamOptions(WireModel):
    include_obfuscation: bool | None = Field(
        None, description=NoEffect + "events carry no padding field (TLS protects them).")


class CreateResponseRequest(RequestBody):
    # The chat request this one is answered as, once translated: one translation per request, so the
    # images the gateway checks and fetches in it are the images the engine is sent. Its messages'
    # input items: `_inputs[m]` is the index in `input` of the chat's message m (None: instructions).
    _chat: ChatCompletionRequest | None = PrivateAttr(None)
    _inputs: tuple[int | None, ...] = PrivateAttr(())

    model: ModelName
    input: str | Annotated[list[InputItem], Field(min_length=1, max_length=MAX_MESSAGES)]
    instructions: str | None = None
    access_programs: JSONObject | list[JSONObject] | None = Refused
    background: bool | None = Field(None, description="Answers are never stored: only false is accepted.")
    context_management: list[JSONObject] | None = Refused
    conversation: str | JSONObject | None = Refused
    image: JSONObject | None = Refused
    include: list[str] | None = Field(
        None, max_length=16, description="Nothing extra can be included: only an empty list is accepted.")
    max_output_tokens: MaxTokens = None
    max_tool_calls: int | None = Refused
    metadata: Metadata = None
    moderation: JSONObject | None = Refused
    parallel_tool_calls: bool | None = None
    previous_response_id: str | None = Refused
    prompt: JSONObject | None = Refused
    prompt_cache_key: PromptCacheKey = None
    prompt_cache_options: PromptCacheOptions = None
    prompt_cache_retention: PromptCacheRetention = None
    reasoning: JSONObject | None = Refused
    safety_identifier: SafetyIdentifier = None
    service_tier: ServiceTier = None
    store: bool | None = Field(None, description="Nothing is stored: only false is accepted.")
    stream: bool | None = None
    stream_options: ResponseStreamOptions | None = None
    temperature: float | None = Field(None, ge=0, le=2)
    text: TextOptions | None = None
    tool_choice: ToolChoice | None = None
    tools: Annotated[list[FunctionTool], Field(max_length=MAX_TOOLS)] | None = None
    top_logprobs: int | None = Refused
    top_p: float | None = Field(None, ge=0, le=1)
    truncation: Literal["disabled"] | None = Field(
        None, description="Nothing is dropped from `input` to fit: only \"disabled\" is accepted.")
    user: str | None = None
