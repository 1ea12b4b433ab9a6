"""/v1/chat/completions and /v1/completions: generation, streamed or not.

Both reserve the prompt's upper bound plus the longest answer the request allows, and both bill the
engine's own count (`prompt_tokens`, `completion_tokens`); a chat also checks the model's features
(images, tools, JSON output), has a required or named tool call generated under a constraint, and
gets small models' tool calls recovered, streamed or not (toolcalls.py, toolstreams.py). Answers
leave without the engine's internals and with the fields OpenAI's schema requires (shapes.py).
"""

from __future__ import annotations

from collections.abc import Iterator

from llmaas.catalog import Capability, ModelEntry
from llmaas.errors import InvalidRequest, UnsupportedForModel
from llmaas.gateway.estimates import text_tokens_upper_bound
from llmaas.gateway.images import chat_images
from llmaas.gateway.pipeline import Call, JSONObject
from llmaas.gateway.shapes import complete, scrub
from llmaas.gateway.toolcalls import ToolPolicy, constrain_tool_choice, recover_tool_calls
from llmaas.gateway.toolstreams import ToolCallStream
from llmaas.metering.pricing import Usage
from llmaas.wire.requests import NOT_FORWARDED, ChatCompletionRequest, CompletionRequest, TextPart


class Chat:
    endpoint = "/v1/chat/completions"
    capability = Capability.CHAT

    def check(self, entry: ModelEntry, request: ChatCompletionRequest) -> Call:
        _check_refused(request)
        _check_features(entry, request)
        _check_messages(request)
        payload = request.model_dump(exclude_unset=True, by_alias=True, exclude=NOT_FORWARDED)
        payload.pop("max_completion_tokens", None)
        payload["max_tokens"] = _max_tokens(entry, request.max_completion_tokens or request.max_tokens)
        constrain_tool_choice(request, payload)
        bound = text_tokens_upper_bound(
            [payload["messages"], payload.get("tools") or []],
            context_length=entry.context_length, messages=len(request.messages),
        )
        call = _generation("/chat/completions", entry, payload, bound)
        call.images = chat_images(request)
        if call.stream and (policy := ToolPolicy.of(request)) is not None:
            call.editor = ToolCallStream(policy)
        return call

    def texts(self, request: ChatCompletionRequest) -> Iterator[str]:
        # What arrives from outside the application: the user's turns and tools' results. The system
        # and developer prompts are the application's own instructions, assistant turns the model's.
        for message in request.messages:
            if message.role not in ("user", "tool"):
                continue
            if isinstance(message.content, str):
                yield message.content
            elif message.content is not None:
                yield from (part.text for part in message.content if isinstance(part, TextPart))

    def usage(self, call: Call, body: JSONObject) -> Usage:
        return Usage.reported(body.get("usage"))

    def finish(self, request: ChatCompletionRequest, body: JSONObject) -> None:
        recover_tool_calls(request, body)
        scrub(body)
        complete(body)


class Completions:
    endpoint = "/v1/completions"
    capability = Capability.COMPLETIONS

    def check(self, entry: ModelEntry, request: CompletionRequest) -> Call:
        if isinstance(request.prompt, list) and len(request.prompt) != 1:
            raise InvalidRequest("Send one prompt per request.", param="prompt")
        payload = request.model_dump(exclude_unset=True, by_alias=True, exclude=NOT_FORWARDED)
        payload["max_tokens"] = _max_tokens(entry, request.max_tokens)
        bound = text_tokens_upper_bound([payload["prompt"]], context_length=entry.context_length)
        return _generation("/completions", entry, payload, bound)

    def texts(self, request: CompletionRequest) -> Iterator[str]:
        yield from [request.prompt] if isinstance(request.prompt, str) else request.prompt

    def usage(self, call: Call, body: JSONObject) -> Usage:
        return Usage.reported(body.get("usage"))

    def finish(self, request: CompletionRequest, body: JSONObject) -> None:
        scrub(body)
        complete(body)


CHAT = Chat()
COMPLETIONS = Completions()


def _generation(path: str, entry: ModelEntry, payload: JSONObject, input_bound: int) -> Call:
    """The engine's call. `payload` holds only the request's declared fields (wire/requests.py)."""
    if "repetition_penalty" in payload:  # vLLM's name; llama.cpp reads its own, each ignores the other
        payload["repeat_penalty"] = payload["repetition_penalty"]
    call = Call(
        path, json=payload, input_tokens=input_bound, isolated=True,
        output_tokens=payload["max_tokens"] or entry.max_output_tokens or entry.context_length,
    )
    # Set again below for a stream: the engine needs nothing else of it (include_obfuscation: no effect).
    options = payload.pop("stream_options", None) or {}
    if payload.get("stream"):
        call.stream = True
        call.include_usage = bool(options.get("include_usage"))
        # Always ask the engine for usage: the platform accounts for every token.
        payload["stream_options"] = {"include_usage": True}
    return call


def _max_tokens(entry: ModelEntry, asked: int | None) -> int | None:
    if asked is None:
        return entry.max_output_tokens
    if entry.max_output_tokens is not None and asked > entry.max_output_tokens:
        raise InvalidRequest(
            f"`{entry.id}` produces at most {entry.max_output_tokens} tokens per answer; "
            f"{asked} were asked.",
            param="max_tokens",
        )
    return asked


# OpenAI's chat fields this platform cannot honour, and why: a 400 naming the field, never a silent
# answer without it (docs/api.md).
REFUSED: dict[str, str] = {
    "audio": "audio output is not supported; the answer is text",
    "function_call": "the deprecated functions API is not supported; use tool_choice",
    "functions": "the deprecated functions API is not supported; use tools",
    "moderation": "the operator's guardrail policy screens requests; /v1/moderations screens texts",
    "prediction": "predicted outputs are not supported",
    "reasoning_effort": "the served models take no reasoning effort",
    "verbosity": "the served models take no verbosity setting; use max_completion_tokens",
    "web_search_options": "the platform searches nothing on a client's behalf",
}


def _check_refused(request: ChatCompletionRequest) -> None:
    for name, reason in REFUSED.items():
        if getattr(request, name) is not None:
            raise InvalidRequest(f"'{name}' is not supported here: {reason}.", param=name)


def _check_messages(request: ChatCompletionRequest) -> None:
    for index, message in enumerate(request.messages):
        if message.role == "tool" and not message.tool_call_id:
            raise InvalidRequest(
                "Missing parameter 'tool_call_id': messages with role 'tool' must have a "
                "'tool_call_id'.", param=f"messages[{index}].tool_call_id",
            )


def _check_features(entry: ModelEntry, request: ChatCompletionRequest) -> None:
    images = [image for message in request.messages for image in message.images()]
    if images and not entry.supports(Capability.VISION):
        raise UnsupportedForModel(f"The model `{entry.id}` does not accept images.", param="messages")
    # Each image is checked, and made inline, by the pipeline before it reaches an engine (images.py).
    if request.tools and not entry.supports(Capability.TOOLS):
        raise UnsupportedForModel(f"The model `{entry.id}` does not support tools.", param="tools")
    response_format = request.response_format
    if response_format and response_format.type != "text":
        if not entry.supports(Capability.JSON):
            raise UnsupportedForModel(
                f"The model `{entry.id}` does not support JSON output.", param="response_format"
            )
        if response_format.type == "json_schema" and response_format.json_schema is None:
            raise InvalidRequest(
                "`response_format.json_schema` is required with type json_schema.",
                param="response_format.json_schema",
            )
