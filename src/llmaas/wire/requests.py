"""Request bodies of the OpenAI API, in OpenAI's field order and names.

Every field is declared and bounded; nothing reaches an engine that is not. A request's top level
refuses a field it does not declare (400 naming it, as OpenAI answers); nested objects drop theirs
(a client replaying an answer's message sends `refusal`, `annotations`, ...). The engine's body is
built from the declared fields only, so an engine-native field (`n_predict`, `cache_prompt`,
`id_slot`, `grammar`, ...) never passes. A few sampling extensions that vLLM and llama.cpp users rely
on are declared, bounded, below (`top_k`, `min_p`, `repetition_penalty`: docs/api.md).

Integers are bounded too: an engine reads them as 32- or 64-bit numbers, and the body is serialised
again for it, which fails past 64 bits. Free-form JSON (a tool's parameters, a JSON schema) is
walked once for the same reason (`JSONObject`).
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Discriminator, Field, Tag

INT32_MAX = 2**31 - 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
MAX_JSON_DEPTH = 64  # of a tool's parameters or a JSON schema
MAX_STOP = 16  # stop sequences
MAX_LOGIT_BIAS = 300  # entries
MAX_MODEL_NAME = 256  # characters
MAX_MESSAGES = 2048  # of a chat request
MAX_INPUTS = 2048  # texts in one embeddings or moderations `input`, OpenAI's limit
MAX_TOOLS = 128  # function tools of a chat or responses request
MAX_NAME = 64  # characters of a function's, a response format's or a participant's name, OpenAI's
MAX_CALL_ID = 256  # characters of a tool call's id (OpenAI's are shorter; other providers' may not be)


def _bounded_json(value: dict[str, Any]) -> dict[str, Any]:
    """Free-form JSON with no integer past 64 bits and no nesting past MAX_JSON_DEPTH."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            if isinstance(item, int) and not isinstance(item, bool) and not INT64_MIN <= item <= INT64_MAX:
                raise ValueError("integers must fit in 64 bits")
            continue
        if depth > MAX_JSON_DEPTH:
            raise ValueError(f"nesting deeper than {MAX_JSON_DEPTH} levels")
        stack.extend((child, depth + 1) for child in children)
    return value


JSONObject = Annotated[dict[str, Any], AfterValidator(_bounded_json)]
TokenId = Annotated[str, Field(pattern=r"^[0-9]{1,10}$")]  # a token id, as OpenAI's logit_bias keys it
Bias = Annotated[float, Field(ge=-100, le=100)]
LogitBias = Annotated[dict[TokenId, Bias], Field(max_length=MAX_LOGIT_BIAS)]
MaxTokens = Annotated[int | None, Field(ge=1, le=INT32_MAX)]
Seed = Annotated[int | None, Field(ge=INT64_MIN, le=INT64_MAX)]
ModelName = Annotated[str, Field(max_length=MAX_MODEL_NAME)]
# A name a client defines (a function tool's, a json_schema response format's): OpenAI's rule,
# ^[a-zA-Z0-9_-]{1,64}$, the length checked first so that a long name is refused as too long.
DefinedName = Annotated[str, Field(min_length=1, max_length=MAX_NAME, pattern=r"^[a-zA-Z0-9_-]+$")]
# A function's name where a client refers to it (an earlier call replayed, a named tool choice): the
# same length, no pattern (a call replayed from another provider's answer is taken as it was written).
CalledName = Annotated[str, Field(min_length=1, max_length=MAX_NAME)]
CallId = Annotated[str, Field(max_length=MAX_CALL_ID)]  # a tool call's id, replayed: no pattern


class WireModel(BaseModel):
    """A nested object: fields it does not declare are dropped, never forwarded."""

    model_config = ConfigDict(extra="ignore", strict=True)


class RequestBody(BaseModel):
    """A request's top level: a field it does not declare is refused."""

    model_config = ConfigDict(extra="forbid", strict=True)


# Sampling fields of vLLM and llama.cpp beyond OpenAI's, forwarded when set (docs/api.md).
TopK = Annotated[int | None, Field(
    ge=-1, le=100_000, description="Extension: sample from the k likeliest tokens only; 0 or -1: all.")]
MinP = Annotated[float | None, Field(
    ge=0, le=1, description="Extension: drop tokens less likely than this share of the likeliest one.")]
RepetitionPenalty = Annotated[float | None, Field(
    gt=0, le=2, description="Extension: divides the odds of tokens already present; 1: none.")]


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
    name: CalledName
    arguments: str


class ToolCall(WireModel):
    id: CallId
    type: Literal["function"] = "function"
    function: FunctionCall


class ChatMessage(WireModel):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = None
    name: Annotated[str, Field(max_length=MAX_NAME)] | None = None  # the participant's
    tool_calls: list[ToolCall] | None = None
    tool_call_id: CallId | None = None

    def images(self) -> list[ImageURL]:
        if not isinstance(self.content, list):
            return []
        return [part.image_url for part in self.content if isinstance(part, ImagePart)]


class FunctionDefinition(WireModel):
    name: DefinedName
    description: str | None = None
    parameters: JSONObject | None = None
    strict: bool | None = None


class Tool(WireModel):
    type: Literal["function"]
    function: FunctionDefinition


class ChosenFunction(WireModel):
    name: CalledName


class NamedToolChoice(WireModel):
    type: Literal["function"]
    function: ChosenFunction


def str_or_object(value: Any) -> str:
    """Tells the members of a union of strings and an object apart by the value's type, so that a
    mistake inside the object is reported as itself (`tool_choice.function.name`), not as "not one
    of the strings". Its tags, "str" and "object", are left out of an error's `param` (errors.py)."""
    return "str" if isinstance(value, str) else "object"


ToolChoiceMode = Annotated[Literal["none", "auto", "required"], Tag("str")]
ToolChoice = Annotated[ToolChoiceMode | Annotated[NamedToolChoice, Tag("object")],
                       Discriminator(str_or_object)]


class JSONSchemaFormat(WireModel):
    name: DefinedName
    description: str | None = None
    schema_: JSONObject | None = Field(None, alias="schema")
    strict: bool | None = None


class ResponseFormat(WireModel):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JSONSchemaFormat | None = None


class StreamOptions(WireModel):
    include_usage: bool | None = None
    include_obfuscation: bool | None = Field(
        None, description="Accepted, without effect: chunks carry no padding field (TLS protects them).")


Stop = str | Annotated[list[str], Field(max_length=MAX_STOP)] | None
# Accepted for OpenAI's clients, never forwarded: they concern OpenAI's own service, or the caller.
NOT_FORWARDED: Final[set[str]] = {  # (model_dump's type)
    "metadata", "service_tier", "store", "user", "safety_identifier", "prompt_cache_key",
    "prompt_cache_retention", "prompt_cache_options", "modalities",
}
Refused = Field(None, description="Refused when set (400 naming it): see docs/api.md.")
NoEffect = "Accepted, without effect: "
# Fields of OpenAI's own service, in chat and in responses alike: bounded, accepted, never forwarded.
Metadata = Annotated[dict[str, Annotated[str, Field(max_length=512)]] | None, Field(
    max_length=16, description="Accepted, without effect: nothing is stored.")]
PromptCacheKey = Annotated[str | None, Field(
    max_length=1024, description=NoEffect + "the engines' caches are kept apart per tenant.")]
PromptCacheOptions = Annotated[JSONObject | None, Field(
    description=NoEffect + "the operator configures the engines' caches.")]
PromptCacheRetention = Annotated[Literal["in_memory", "24h"] | None, Field(
    description=NoEffect + "the operator configures the engines' caches.")]
SafetyIdentifier = Annotated[str | None, Field(
    max_length=1024, description=NoEffect + "it is for OpenAI's abuse monitoring.")]
ServiceTier = Annotated[Literal["auto", "default", "flex", "scale", "priority"] | None, Field(
    description="Accepted, without effect: one tier of service.")]


class ChatCompletionRequest(RequestBody):
    messages: list[ChatMessage] = Field(min_length=1, max_length=MAX_MESSAGES)
    model: ModelName
    audio: JSONObject | None = Refused
    frequency_penalty: float | None = Field(None, ge=-2, le=2)
    function_call: str | JSONObject | None = Refused
    functions: list[JSONObject] | None = Refused
    logit_bias: LogitBias | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = Field(None, ge=0, le=20)
    max_tokens: MaxTokens = None
    max_completion_tokens: MaxTokens = None
    metadata: Metadata = None
    modalities: list[Literal["text"]] | None = Field(
        None, max_length=1, description="Text is the only output: [\"text\"] is accepted.")
    moderation: JSONObject | None = Refused
    n: int | None = Field(None, ge=1, le=1, description="Only one choice per request is served.")
    prediction: JSONObject | None = Refused
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    prompt_cache_key: PromptCacheKey = None
    prompt_cache_options: PromptCacheOptions = None
    prompt_cache_retention: PromptCacheRetention = None
    reasoning_effort: str | None = Refused
    response_format: ResponseFormat | None = None
    safety_identifier: SafetyIdentifier = None
    seed: Seed = None
    service_tier: ServiceTier = None
    stop: Stop = None
    store: Literal[False] | None = Field(None, description="Nothing is stored: only false is accepted.")
    stream: bool | None = None
    stream_options: StreamOptions | None = None
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    tools: Annotated[list[Tool], Field(max_length=MAX_TOOLS)] | None = None
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    user: str | None = None
    verbosity: str | None = Refused
    web_search_options: JSONObject | None = Refused
    top_k: TopK = None
    min_p: MinP = None
    repetition_penalty: RepetitionPenalty = None


class CompletionRequest(RequestBody):
    model: ModelName
    prompt: str | list[str]
    best_of: int | None = Field(None, ge=1, le=1, description="Only one candidate per request is served.")
    echo: bool | None = None
    frequency_penalty: float | None = Field(None, ge=-2, le=2)
    logit_bias: LogitBias | None = None
    logprobs: int | None = Field(None, ge=0, le=5)
    max_tokens: MaxTokens = None
    n: int | None = Field(None, ge=1, le=1, description="Only one choice per request is served.")
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    seed: Seed = None
    stop: Stop = None
    stream: bool | None = None
    stream_options: StreamOptions | None = None
    suffix: str | None = None
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    user: str | None = None
    top_k: TopK = None
    min_p: MinP = None
    repetition_penalty: RepetitionPenalty = None


class EmbeddingRequest(RequestBody):
    input: str | list[str] = Field(description="Text, or a list of up to 2048 texts.")
    model: ModelName
    encoding_format: Literal["float", "base64"] | None = None
    dimensions: int | None = Field(None, ge=1, le=INT32_MAX)
    user: str | None = None


class RerankDocument(WireModel):
    text: str = Field(min_length=1)


class RerankRequest(RequestBody):
    """The Cohere/Jina shape that vLLM serves at /v1/rerank."""

    model: ModelName
    query: str = Field(min_length=1)
    documents: list[str | RerankDocument] = Field(min_length=1, max_length=1000)
    top_n: int | None = Field(None, ge=1, le=INT32_MAX)
    return_documents: bool | None = None

    def texts(self) -> list[str]:
        return [d if isinstance(d, str) else d.text for d in self.documents]


TranscriptionFormat = Literal["json", "text", "srt", "vtt", "verbose_json"]


class TranslationRequest(RequestBody):
    """The form fields of POST /v1/audio/translations; the audio file travels beside them. OpenAI's
    schema has no `language` (the target is English) and no `timestamp_granularities`: refused."""

    model: str = Field(min_length=1, max_length=MAX_MODEL_NAME)
    prompt: str | None = None
    response_format: TranscriptionFormat | None = None
    temperature: float | None = Field(None, ge=0, le=1)


class TranscriptionRequest(RequestBody):
    """The form fields of POST /v1/audio/transcriptions; the audio file travels beside them."""

    model: str = Field(min_length=1, max_length=MAX_MODEL_NAME)
    language: str | None = Field(None, max_length=32)
    prompt: str | None = None
    response_format: TranscriptionFormat | None = None
    stream: Literal[False] | None = Field(None, description="One answer at the end: only false is accepted.")
    temperature: float | None = Field(None, ge=0, le=1)
    timestamp_granularities: list[str] | None = Field(
        None, max_length=2, description="Sent as `timestamp_granularities[]`; the engine checks the values.")
