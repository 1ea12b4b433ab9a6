"""Tool calls as OpenAI sends them, whatever the engine and the model make of a tool request.

Two parts. Before the engine: a call that must happen (`tool_choice` "required" or a named function)
is generated under a constraint, a JSON schema of the call built from the tools' parameters, sent as
`response_format` (llama-server's own "required" grammar lets a small model write free text before a
call, and it knows no named choice); a named choice also narrows `tools` to that one function. The
answer is then a valid call that ends where its JSON closes. "required" with parallel calls allowed
(OpenAI's default) is constrained to a JSON array of one or more calls instead, each of which becomes
its own entry of `tool_calls`; a named choice, or `parallel_tool_calls: false`, is exactly one call.

After the engine: small open-weight models often answer with the call as plain JSON (bare, in a
```json fence, or between <tool_call> tags the engine did not parse). When the request offered tools
and the answer is such a call to one of them, the client gets `tool_calls`, as from a larger model;
any other answer passes through untouched. Streams get the same (toolstreams.py).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from llmaas.errors import InvalidRequest
from llmaas.wire.requests import ChatCompletionRequest, NamedToolChoice, Tool

OPENING = re.compile(r"^\s*(?:```(?:json)?|<tool_call>)?\s*", re.IGNORECASE)
_CLOSING = re.compile(r"^\s*(?:```|</tool_call>)?\s*$", re.IGNORECASE)
MAX_PARALLEL_CALLS = 16  # the most calls one constrained answer may hold


@dataclass(frozen=True)
class ToolPolicy:
    """What a request with tools allows: which functions, whether a call must come, how many."""

    names: frozenset[str]
    forced: bool  # "required" or a named function: the engine was constrained to write a call
    single: bool  # parallel_tool_calls: false
    several: bool = False  # "required" with parallel calls: the engine writes a JSON array of calls

    @classmethod
    def of(cls, request: ChatCompletionRequest) -> ToolPolicy | None:
        """None when the answer cannot hold a tool call (no tools, or tool_choice "none")."""
        choice = request.tool_choice
        if not request.tools or choice == "none":
            return None
        if isinstance(choice, NamedToolChoice):
            names = frozenset({_chosen(request.tools, choice).function.name})
        else:
            names = frozenset(tool.function.name for tool in request.tools)
        forced = choice == "required" or isinstance(choice, NamedToolChoice)
        single = request.parallel_tool_calls is False
        return cls(names, forced, single, several=_several(request))


def constrain_tool_choice(request: ChatCompletionRequest, payload: dict[str, Any]) -> None:
    """Shape the engine's request so that a required or named call is generated as valid JSON."""
    choice = request.tool_choice
    if not request.tools or not (choice == "required" or isinstance(choice, NamedToolChoice)):
        return
    tools = request.tools
    if isinstance(choice, NamedToolChoice):
        chosen = _chosen(tools, choice)
        tools = [chosen]
        payload["tools"] = [t for t in payload["tools"] if t["function"]["name"] == chosen.function.name]
    # Every engine understands "required"; one that also follows `response_format` (llama-server,
    # vLLM, Ollama) writes exactly one call, and stops where its JSON closes. A format the client
    # asked for concerns answers in words, which this turn cannot be: the call's schema replaces it.
    payload["tool_choice"] = "required"
    if _several(request):
        payload["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": "tool_calls", "schema": calls_schema(tools), "strict": True},
        }
        return
    payload["response_format"] = {
        "type": "json_schema",
        "json_schema": {"name": "tool_call", "schema": call_schema(tools), "strict": True},
    }


def calls_schema(tools: list[Tool]) -> dict[str, Any]:
    """The JSON schema of an array of one or more calls (`call_schema`), bounded in length."""
    items = call_schema(tools, root="#/items")
    schema: dict[str, Any] = {"type": "array", "items": items, "minItems": 1, "maxItems": MAX_PARALLEL_CALLS}
    if "$defs" in items:
        schema["$defs"] = items.pop("$defs")  # a `$ref` is resolved from the document's root
    return schema


def call_schema(tools: list[Tool], root: str = "#") -> dict[str, Any]:
    """The JSON schema of `{"name": ..., "arguments": {...}}` for one of `tools`, found at `root`.

    Each tool's parameters move under `arguments`, so their `$ref`s are rebased, and their `$defs`
    gathered (under a prefix per tool when there are several), for the document's root."""
    defs: dict[str, Any] = {}
    several = len(tools) > 1
    variants = []
    for i, tool in enumerate(tools):
        parameters = dict(tool.function.parameters or {"type": "object", "properties": {}})
        prefix = f"{i}_" if several else ""
        for key in ("$defs", "definitions"):
            for name, definition in (parameters.pop(key, None) or {}).items():
                defs[prefix + name] = definition
        variants.append({
            "type": "object",
            "properties": {"name": {"const": tool.function.name}, "arguments": parameters},
            "required": ["name", "arguments"],
            "additionalProperties": False,
        })
    schema: dict[str, Any] = {"anyOf": variants} if several else variants[0]
    schema = _rebased(schema, lambda ref, i: _rebase_ref(ref, i, several, root))
    if defs:
        schema["$defs"] = defs
    return schema


def recover_tool_calls(request: ChatCompletionRequest, body: dict[str, Any]) -> None:
    """Turn an answer that is a call written as text into `tool_calls`; keep one call if asked."""
    policy = ToolPolicy.of(request)
    if policy is None:
        return
    for choice in body.get("choices") or []:
        message = choice.get("message") or {}
        if message.get("tool_calls"):
            if policy.single:
                message["tool_calls"] = message["tool_calls"][:1]
            continue
        if not isinstance(message.get("content"), str):
            continue
        calls = parse_calls(message["content"], policy)
        if calls:
            message["content"] = None
            message["tool_calls"] = [function_call(name, json.dumps(arguments)) for name, arguments in calls]
            choice["finish_reason"] = "tool_calls"


def parse_calls(content: str, policy: ToolPolicy) -> list[tuple[str, dict[str, Any]]]:
    """The calls `content` writes: an array of them where the policy asked for several, else one."""
    if policy.several:
        text = OPENING.sub("", content, count=1)
        try:
            parsed, _ = json.JSONDecoder().raw_decode(text)  # generated under a constraint: the rest is noise
        except json.JSONDecodeError:
            return []
        if isinstance(parsed, list):
            calls = [_as_call(item, policy) for item in parsed[:MAX_PARALLEL_CALLS]]
            return [call for call in calls if call is not None] if all(calls) else []
    call = parse_call(content, policy)
    return [] if call is None else [call]


def parse_call(content: str, policy: ToolPolicy) -> tuple[str, dict[str, Any]] | None:
    """The call `content` writes, as (name, arguments); None when it is not one.

    A forced call was generated under a constraint, and anything after it is noise; otherwise only
    an answer that is nothing but a call is one."""
    text = OPENING.sub("", content, count=1)
    try:
        parsed, end = json.JSONDecoder().raw_decode(text)
    except json.JSONDecodeError:
        return None
    if not policy.forced and not _CLOSING.match(text[end:]):
        return None
    return _as_call(parsed, policy)


def _as_call(parsed: Any, policy: ToolPolicy) -> tuple[str, dict[str, Any]] | None:
    if not isinstance(parsed, dict) or parsed.get("name") not in policy.names:
        return None
    arguments = parsed.get("arguments", parsed.get("parameters", {}))
    if not isinstance(arguments, dict):
        return None
    return parsed["name"], arguments


def function_call(name: str, arguments: str) -> dict[str, Any]:
    return {"id": new_call_id(), "type": "function", "function": {"name": name, "arguments": arguments}}


def new_call_id() -> str:
    return f"call_{uuid.uuid4().hex[:24]}"


def _several(request: ChatCompletionRequest) -> bool:
    """Whether the engine is asked for an array of calls: "required", with parallel calls allowed."""
    parallel = request.parallel_tool_calls is not False
    return bool(request.tools) and request.tool_choice == "required" and parallel


def _chosen(tools: list[Tool], choice: NamedToolChoice) -> Tool:
    name = choice.function.name
    for tool in tools:
        if tool.function.name == name:
            return tool
    raise InvalidRequest(f"`tool_choice` names the function `{name}`, which is not among `tools`.",
                         param="tool_choice")


def _rebase_ref(ref: str, variant: int, several: bool, root: str) -> str:
    """A `$ref` of one tool's parameters, as seen from the document's root (the call is at `root`)."""
    for key in ("#/$defs/", "#/definitions/"):
        if ref.startswith(key):
            return "#/$defs/" + (f"{variant}_" if several else "") + ref[len(key):]
    if ref == "#" or ref.startswith("#/"):
        at = root + (f"/anyOf/{variant}/properties/arguments" if several else "/properties/arguments")
        return at + ref[1:]
    return ref


def _rebased(schema: dict[str, Any], rebase: Callable[[str, int], str]) -> dict[str, Any]:
    """`schema` with the refs inside each variant's `arguments` rebased by `rebase(ref, variant)`."""

    def walk(node: Any, variant: int) -> Any:
        if isinstance(node, dict):
            return {key: rebase(value, variant) if key == "$ref" and isinstance(value, str)
                    else walk(value, variant) for key, value in node.items()}
        if isinstance(node, list):
            return [walk(item, variant) for item in node]
        return node

    variants = schema.get("anyOf", [schema])
    for i, variant in enumerate(variants):
        variant["properties"]["arguments"] = walk(variant["properties"]["arguments"], i)
    return schema
