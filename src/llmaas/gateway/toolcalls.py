"""Making small models' tool calls arrive as OpenAI `tool_calls`.

Small open-weight models often answer a tool request with the call as plain JSON (bare, in a
```json fence, or between <tool_call> tags the engine did not parse). When the request offered
tools and the answer is exactly such a call to one of them, the client gets a proper tool call,
as it would from a larger model; any other answer passes through untouched.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from llmaas.wire.requests import ChatCompletionRequest, NamedToolChoice

_OPENING = re.compile(r"^\s*(?:```(?:json)?|<tool_call>)?\s*", re.IGNORECASE)
_CLOSING = re.compile(r"^\s*(?:```|</tool_call>)?\s*$", re.IGNORECASE)


def narrow_tool_choice(request: ChatCompletionRequest, payload: dict[str, Any]) -> None:
    """A named tool choice becomes "required" over that one tool: every engine understands it."""
    choice = request.tool_choice
    if isinstance(choice, NamedToolChoice) and request.tools:
        name = choice.function.get("name")
        payload["tools"] = [tool for tool in payload["tools"] if tool["function"]["name"] == name]
        payload["tool_choice"] = "required"


def recover_tool_calls(request: ChatCompletionRequest, body: dict[str, Any]) -> None:
    if not request.tools or request.tool_choice == "none":
        return
    names = {tool.function.name for tool in request.tools}
    # When a call is required, the engine's grammar produced it and anything after it is noise;
    # otherwise only an answer that is nothing but a call is one.
    exact = request.tool_choice != "required"
    for choice in body.get("choices") or []:
        message = choice.get("message") or {}
        if message.get("tool_calls") or not isinstance(message.get("content"), str):
            continue
        call = _parse_call(message["content"], names, exact=exact)
        if call is not None:
            message["content"] = None
            message["tool_calls"] = [call]
            choice["finish_reason"] = "tool_calls"


def _parse_call(content: str, names: set[str], *, exact: bool) -> dict[str, Any] | None:
    text = _OPENING.sub("", content, count=1)
    try:
        parsed, end = json.JSONDecoder().raw_decode(text)
    except json.JSONDecodeError:
        return None
    if exact and not _CLOSING.match(text[end:]):
        return None
    if not isinstance(parsed, dict) or parsed.get("name") not in names:
        return None
    arguments = parsed.get("arguments", parsed.get("parameters", {}))
    if not isinstance(arguments, dict):
        return None
    return {
        "id": f"call_{uuid.uuid4().hex[:24]}",
        "type": "function",
        "function": {"name": parsed["name"], "arguments": json.dumps(arguments)},
    }
