"""/v1/responses: OpenAI's Responses API, served as a chat completion under another name.

A request becomes the chat request the engines already speak (`to_chat`): `instructions` a system
message, input items messages, an earlier function call an assistant turn with `tool_calls`, its
output a `tool` message, `text.format` a `response_format`, `max_output_tokens` the answer's bound.
Chat's own step (chat.py) then checks and shapes it, so tool calls are recovered and constrained,
and metering, limits, budgets and guardrails apply exactly as for a chat. The engine's answer comes
back as a response object (`response_object`), or its stream as the Responses events
(responsestreams.py). Nothing is stored: `store: true` and `previous_response_id` are refused.
"""

from __future__ import annotations

from collections.abc import Iterator

from pydantic import ValidationError

from llmaas.catalog import Capability, ModelEntry
from llmaas.errors import InvalidRequest
from llmaas.gateway.chat import CHAT
from llmaas.gateway.images import chat_images
from llmaas.gateway.pipeline import Call, JSONObject
from llmaas.gateway.responseitems import (
    ended,
    function_call_item,
    message_item,
    response_object,
    response_usage,
)
from llmaas.gateway.responsestreams import ResponseEvents
from llmaas.gateway.shapes import scrub
from llmaas.gateway.toolcalls import recover_tool_calls
from llmaas.metering.pricing import Usage
from llmaas.wire.requests import ChatCompletionRequest
from llmaas.wire.responses_api import (
    CreateResponseRequest,
    FunctionCallItem,
    FunctionCallOutput,
    FunctionChoice,
    InputImage,
    InputPart,
    InputText,
    OutputText,
    Refusal,
)

# OpenAI's Responses fields this platform cannot honour, and why (docs/api.md).
REFUSED: dict[str, str] = {
    "access_programs": "OpenAI's access programs do not apply here",
    "image": "image output is not supported; the answer is text",
    "moderation": "the operator's guardrail policy screens requests; /v1/moderations screens texts",
    "context_management": "the served models' context is not managed server-side",
    "conversation": "nothing is stored; send the whole conversation in `input`",
    "max_tool_calls": "the number of tool calls is not bounded server-side; end the loop client-side",
    "previous_response_id": "responses are not stored (zero retention); send the whole conversation "
                            "in `input`, the model's function calls and their outputs included",
    "prompt": "stored prompt templates are not supported; send `instructions` and `input`",
    "reasoning": "the served models take no reasoning settings",
    "top_logprobs": "log probabilities are not returned by /v1/responses; use /v1/chat/completions",
}
# Chat's names for what a Responses request calls otherwise, for the errors chat's checks raise.
_PARAMS = {"messages": "input", "max_tokens": "max_output_tokens", "response_format": "text.format",
           "response_format.json_schema": "text.format.schema"}


class Responses:
    endpoint = "/v1/responses"
    capability = Capability.CHAT

    def check(self, entry: ModelEntry, request: CreateResponseRequest) -> Call:
        _check_refused(request)
        if request._chat is None:
            request._chat, request._inputs = to_chat(request)
        chat, inputs = request._chat, request._inputs
        try:
            call = CHAT.check(entry, chat)
        except InvalidRequest as error:
            error.param = _PARAMS.get(error.param or "", error.param)
            raise
        call.images = chat_images(chat, lambda m, p: f"input[{inputs[m]}].content[{p}]")
        if call.stream:
            call.include_usage = True  # the usage ends `response.completed`
            call.translate = ResponseEvents(response_object(request, model=entry.id, status="in_progress"))
        return call

    def texts(self, request: CreateResponseRequest) -> Iterator[str]:
        # As for chat: what arrives from outside the application, the user's turns and the outputs
        # of functions; `instructions` and system or developer turns are the application's own.
        if isinstance(request.input, str):
            yield request.input
            return
        for item in request.input:
            if isinstance(item, FunctionCallOutput):
                content = item.output
            elif isinstance(item, FunctionCallItem) or item.role != "user":
                continue
            else:
                content = item.content
            if isinstance(content, str):
                yield content
            else:
                yield from (part.text for part in content if isinstance(part, InputText))

    def usage(self, call: Call, body: JSONObject) -> Usage:
        return Usage.reported(body.get("usage"))

    def finish(self, request: CreateResponseRequest, body: JSONObject) -> None:
        if request.tools:  # a call written as text, recovered as for chat
            recover_tool_calls(request._chat or to_chat(request)[0], body)
        scrub(body)
        choices = body.get("choices") or [{}]
        choice = choices[0] if isinstance(choices[0], dict) else {}
        message = choice.get("message") or {}
        answer = response_object(request, model=str(body.get("model", request.model)), status="completed")
        if isinstance(message.get("content"), str) and message["content"]:
            answer["output"].append(message_item(message["content"]))
        for call in message.get("tool_calls") or []:
            function = call.get("function") or {}
            answer["output"].append(function_call_item(
                str(call.get("id") or ""), str(function.get("name", "")), str(function.get("arguments", ""))))
        if (usage := response_usage(body.get("usage"))) is not None:
            answer["usage"] = usage
        ended(answer, choice.get("finish_reason"))
        body.clear()
        body.update(answer)


RESPONSES = Responses()


def to_chat(request: CreateResponseRequest) -> tuple[ChatCompletionRequest, tuple[int | None, ...]]:
    """The chat request that asks an engine what `request` asks, and for each of its messages the
    index of the input item it came from (None: the instructions)."""
    messages: list[JSONObject] = []
    inputs: list[int | None] = []
    if request.instructions is not None:
        messages.append({"role": "system", "content": request.instructions})
        inputs.append(None)
    items = [request.input] if isinstance(request.input, str) else request.input
    for index, item in enumerate(items):
        where = f"input[{index}]"
        if isinstance(item, str):
            messages.append({"role": "user", "content": item})
        elif isinstance(item, FunctionCallItem):
            call = {"id": item.call_id, "type": "function",
                    "function": {"name": item.name, "arguments": item.arguments}}
            last = messages[-1] if messages else None
            if last is not None and last["role"] == "assistant":  # parallel calls: one assistant turn
                last.setdefault("tool_calls", []).append(call)
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif isinstance(item, FunctionCallOutput):
            messages.append({"role": "tool", "tool_call_id": item.call_id,
                             "content": _text(item.output, f"{where}.output")})
        elif item.role == "user" and not isinstance(item.content, str):
            messages.append({"role": "user", "content": [_chat_part(part, f"{where}.content[{p}]")
                                                         for p, part in enumerate(item.content)]})
        else:
            messages.append({"role": item.role, "content": _text(item.content, f"{where}.content")})
        inputs += [index] * (len(messages) - len(inputs))  # none when a call joined the turn before
    body: JSONObject = {"model": request.model, "messages": messages}
    _copy(request, body)
    try:
        return ChatCompletionRequest.model_validate(body), tuple(inputs)
    except ValidationError as error:  # more turns than a chat takes, with the instructions
        raise InvalidRequest(f"Invalid value for 'input': {error.errors()[0]['msg']}.",
                             param="input") from None


def _copy(request: CreateResponseRequest, body: JSONObject) -> None:
    """The sampling, bound, tool and format fields, as chat names them (only those set)."""
    if request.max_output_tokens is not None:
        body["max_completion_tokens"] = request.max_output_tokens
    for name in ("temperature", "top_p", "parallel_tool_calls", "stream"):
        if (value := getattr(request, name)) is not None:
            body[name] = value
    if request.tools is not None:
        body["tools"] = [{"type": "function", "function": tool.model_dump(exclude={"type"}, exclude_none=True,
                                                                          by_alias=True)}
                         for tool in request.tools]
    choice = request.tool_choice
    if isinstance(choice, FunctionChoice):
        body["tool_choice"] = {"type": "function", "function": {"name": choice.name}}
    elif choice is not None:
        body["tool_choice"] = choice
    form = request.text.format if request.text else None
    if form is not None and form.type == "json_schema":
        if form.name is None or form.schema_ is None:
            missing = "name" if form.name is None else "schema"
            raise InvalidRequest(f"Missing required parameter: 'text.format.{missing}'.",
                                 param=f"text.format.{missing}")
        schema = {"name": form.name, "description": form.description, "schema": form.schema_,
                  "strict": form.strict}
        body["response_format"] = {"type": "json_schema",
                                   "json_schema": {k: v for k, v in schema.items() if v is not None}}
    elif form is not None:
        body["response_format"] = {"type": form.type}


def _chat_part(part: InputPart, where: str) -> JSONObject:
    if isinstance(part, InputImage):
        if part.image_url is None:  # a file_id: nothing is stored to refer to
            raise InvalidRequest("Images must be sent inline as data:image/...;base64 URLs in "
                                 "`image_url`; files are not stored.", param=f"{where}.file_id")
        image: JSONObject = {"url": part.image_url}
        if part.detail is not None:
            image["detail"] = part.detail
        return {"type": "image_url", "image_url": image}
    return {"type": "text", "text": _part_text(part)}


def _text(content: str | list[InputPart], where: str) -> str:
    """Content that only a user turn may give as parts (images), as one text."""
    if isinstance(content, str):
        return content
    if any(isinstance(part, InputImage) for part in content):
        raise InvalidRequest("Only user messages may hold images.", param=where)
    return "".join(_part_text(part) for part in content)


def _part_text(part: InputText | OutputText | Refusal | InputImage) -> str:
    if isinstance(part, Refusal):
        return part.refusal
    return part.text if isinstance(part, InputText | OutputText) else ""


def _check_refused(request: CreateResponseRequest) -> None:
    for name, reason in REFUSED.items():
        if getattr(request, name) is not None:
            raise InvalidRequest(f"'{name}' is not supported here: {reason}.", param=name)
    if request.store:
        raise InvalidRequest("Responses are not stored here (zero retention): 'store' must be false.",
                             param="store")
    if request.background:
        raise InvalidRequest("Responses are not stored, so none can run in the background: "
                             "'background' must be false.", param="background")
    if request.include:
        raise InvalidRequest("'include' is not supported here: nothing beyond the output can be "
                             "included.", param="include")
    if request.text is not None and request.text.verbosity is not None:
        raise InvalidRequest("'text.verbosity' is not supported here: the served models take no "
                             "verbosity setting; use max_output_tokens.", param="text.verbosity")
