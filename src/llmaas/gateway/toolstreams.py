"""Streamed tool calls: a call the model writes as text reaches the client as `delta.tool_calls`.

The relay (streams.py) hands each engine event of a chat with tools to a `ToolCallStream`. Content
that may be the start of a call is held back; as soon as it cannot be one, it goes out as it came.
Once the call's head (`{"name": "get_weather", "arguments": `) is in, the client gets OpenAI's
chunking: a first chunk with the call's index, id, type, name and empty arguments, then the
arguments in the pieces the engine wrote them, then `finish_reason: "tool_calls"`.

A forced call (toolcalls.py constrained it) goes out as it is generated; where the constraint is an
array of calls, each call after the first gets the next index and its own id once its head is in, and
what closes the array ends the calls. Any other call is held until the answer ends: only an answer
that is nothing but a call is one, as for a whole answer (`parse_calls`), so a streamed answer and the
same answer not streamed always agree.
Calls the engine parsed itself pass through (only the first when `parallel_tool_calls` is false).
"""

from __future__ import annotations

import json
import re
from enum import Enum, auto
from typing import Any

import orjson

from llmaas.gateway.toolcalls import MAX_PARALLEL_CALLS, OPENING, ToolPolicy, new_call_id, parse_calls

_PREFIXES = ("```json", "<tool_call>")  # what a call's text may begin with, before its `{`
_FIRST_KEY = re.compile(r'\{\s*"([^"\\]*)"')
_NAME = re.compile(r'\{\s*"name"\s*:\s*"([^"\\]*)"')
_HEAD = re.compile(r'\{\s*"name"\s*:\s*"([^"\\]*)"\s*,\s*"(?:arguments|parameters)"\s*:\s*(?=\{)')
_NEXT = re.compile(r"\s*\}\s*,\s*(?=\{)")  # between two calls of an array: the first's `}`, a comma
_ARRAY = re.compile(r"\[\s*")
_CALL_KEYS = ("name", "arguments", "parameters")
MAX_HELD_CHARS = 2048  # content that has not shown a call's head by then is text


class _State(Enum):
    UNDECIDED = auto()  # content held: it may be a call
    TEXT = auto()  # content: passes through
    NATIVE = auto()  # the engine sends tool_calls itself
    CALL = auto()  # a call's head was seen: its arguments are being written
    CLOSED = auto()  # the call's arguments are complete


class ToolCallStream:
    """Edits one chat stream's events (`data:` payloads) so that tool calls arrive as tool calls."""

    def __init__(self, policy: ToolPolicy) -> None:
        self.policy = policy
        self.state = _State.UNDECIDED
        self.text = ""  # the content since the answer began, while it is not known to be text
        self.held: list[bytes] = []  # a call not yet known to be one: its chunks, for the end
        self.envelope: dict[str, Any] = {}  # id, object, created, model: for the chunks written here
        self.arguments = _Arguments()
        self.index = 0  # the call being written, in an array of calls
        self.between = ""  # an array's text since the last call's arguments closed

    def edit(self, data: bytes) -> list[bytes]:
        """The events `data` becomes for the client: itself, none (held), or several."""
        if self.state is _State.TEXT and not (self.policy.single and b'"tool_calls"' in data):
            return [data]
        chunk = orjson.loads(data)
        choices = chunk.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            return [data]  # the usage chunk
        choice = choices[0]
        delta = choice.get("delta") or {}
        self.envelope = {k: v for k, v in chunk.items() if k not in ("choices", "usage", "timings")}
        if delta.get("tool_calls"):
            held = self._give_up_text()
            self.state = _State.NATIVE
            return held + self._native(chunk, delta, data)
        if self.state is _State.TEXT or self.state is _State.NATIVE:
            return [data]
        content = delta.get("content")
        finish = choice.get("finish_reason")
        out: list[bytes] = []
        if isinstance(content, str) and content:
            del delta["content"]
            if (delta or len(choices) > 1) and finish is None:
                out.append(orjson.dumps(chunk))  # what else the chunk says (the role) comes first
            out += self._content(content)
        elif finish is None:
            return [data]  # no content: the first chunk, with the role
        if finish is not None:
            out += self._finish(chunk, choice)
        return out

    def flush(self) -> list[bytes]:
        """The stream ends without a finish: what was held goes out as the text it was."""
        if self.policy.forced and self.state in (_State.CALL, _State.CLOSED):
            return []  # a forced call went out as it came; what followed it is noise
        return self._give_up_text()

    # -- content -----------------------------------------------------------------------------

    def _content(self, content: str) -> list[bytes]:
        if self.state is _State.CLOSED:
            self.text += content  # after a forced call: noise; after another, decided at the end
            return self._next_call(content) if self.policy.several else []
        if self.state is _State.CALL:
            self.text += content
            return self._call_piece(content)
        self.text += content
        verdict = self._decide()
        if verdict is _State.TEXT:
            return self._give_up_text()
        if verdict is _State.CALL:
            return self._start_call()
        return []

    def _decide(self) -> _State:
        """Whether the content so far is text, a call's head, or still either."""
        stripped = self.text.lstrip().lower()
        if any(prefix.startswith(stripped) for prefix in _PREFIXES):
            return _State.UNDECIDED
        rest = self._call_text()
        if not rest:
            return _State.UNDECIDED
        if rest[0] != "{" or len(self.text) > MAX_HELD_CHARS:
            return _State.TEXT
        if (key := _FIRST_KEY.match(rest)) and key[1] not in _CALL_KEYS:
            return _State.TEXT
        if (name := _NAME.match(rest)) and name[1] not in self.policy.names:
            return _State.TEXT
        return _State.CALL if _HEAD.match(rest) else _State.UNDECIDED

    def _start_call(self) -> list[bytes]:
        return self._head(self._call_text())

    def _call_text(self) -> str:
        """The content after what may open a call (and, for an array of calls, the array)."""
        rest = self.text[OPENING.match(self.text).end():]  # type: ignore[union-attr]
        if self.policy.several and (array := _ARRAY.match(rest)):
            return rest[array.end():]
        return rest

    def _head(self, text: str) -> list[bytes]:
        """`text` begins with a call's head: its first chunk, then what follows as its arguments."""
        self.state = _State.CALL
        head = _HEAD.match(text)
        assert head is not None
        first = self._chunk({"tool_calls": [{
            "index": self.index, "id": new_call_id(), "type": "function",
            "function": {"name": head[1], "arguments": ""},
        }]})
        return self._out([first]) + self._call_piece(text[head.end():])

    def _call_piece(self, piece: str) -> list[bytes]:
        taken = self.arguments.feed(piece)
        out: list[bytes] = []
        if taken:
            out = self._out([self._chunk({"tool_calls": [{"index": self.index,
                                                           "function": {"arguments": taken}}]})])
        if self.arguments.closed:
            self.state = _State.CLOSED
            if self.policy.several:
                out += self._next_call(piece[len(taken):])
        return out

    def _next_call(self, content: str) -> list[bytes]:
        """In an array of calls: the next call, once its head is in (nothing after the array's end)."""
        self.between += content
        if len(self.between) > MAX_HELD_CHARS or self.index + 1 >= MAX_PARALLEL_CALLS:
            return []
        after = _NEXT.match(self.between)
        if after is None or not _HEAD.match(self.between, after.end()):
            return []
        text, self.between = self.between[after.end():], ""
        self.index += 1
        self.arguments = _Arguments()
        return self._head(text)

    def _out(self, chunks: list[bytes]) -> list[bytes]:
        """A forced call goes out now; any other waits for the end of the answer."""
        if self.policy.forced:
            return chunks
        self.held += chunks
        return []

    # -- the end ----------------------------------------------------------------------------

    def _finish(self, chunk: dict[str, Any], choice: dict[str, Any]) -> list[bytes]:
        out: list[bytes] = []
        unforced_call = self.state in (_State.CALL, _State.CLOSED) and not self.policy.forced
        if self.state is _State.UNDECIDED or unforced_call:
            calls = parse_calls(self.text, self.policy)
            if not calls:
                out += self._give_up_text()
            else:
                if not self.held:  # calls whose head was not recognised as it came (keys in another order)
                    self._written_calls(calls)
                out += self.held
                choice["finish_reason"] = "tool_calls"
        elif self.state is _State.CLOSED:  # a forced call, complete
            choice["finish_reason"] = "tool_calls"
        self.held, self.text = [], ""
        self.state = _State.TEXT
        return [*out, orjson.dumps(chunk)]

    def _written_calls(self, calls: list[tuple[str, dict[str, Any]]]) -> None:
        self.held = []
        for index, (name, arguments) in enumerate(calls):
            self.held += [
                self._chunk({"tool_calls": [{"index": index, "id": new_call_id(), "type": "function",
                                             "function": {"name": name, "arguments": ""}}]}),
                self._chunk({"tool_calls": [{"index": index,
                                             "function": {"arguments": json.dumps(arguments)}}]}),
            ]

    def _give_up_text(self) -> list[bytes]:
        """What was held goes out as content."""
        text, self.text, self.held = self.text, "", []
        if self.state in (_State.UNDECIDED, _State.CALL, _State.CLOSED):
            self.state = _State.TEXT
        return [self._chunk({"content": text})] if text else []

    def _native(self, chunk: dict[str, Any], delta: dict[str, Any], data: bytes) -> list[bytes]:
        if not self.policy.single:
            return [data]
        calls = [call for call in delta["tool_calls"] if call.get("index", 0) == 0]
        if len(calls) == len(delta["tool_calls"]):
            return [data]
        if calls:
            delta["tool_calls"] = calls
        else:
            del delta["tool_calls"]
            if not delta and chunk["choices"][0].get("finish_reason") is None:
                return []
        return [orjson.dumps(chunk)]

    def _chunk(self, delta: dict[str, Any]) -> bytes:
        choice = {"index": 0, "delta": delta, "finish_reason": None}
        return orjson.dumps({**self.envelope, "choices": [choice]})


class _Arguments:
    """Where a call's arguments, a JSON object written piece by piece, end."""

    def __init__(self) -> None:
        self.depth = 0
        self.in_string = False
        self.escaped = False
        self.closed = False

    def feed(self, piece: str) -> str:
        """The part of `piece` that belongs to the arguments (all of it, until the object closes)."""
        if self.closed:
            return ""
        for i, char in enumerate(piece):
            if self.in_string:
                if self.escaped:
                    self.escaped = False
                elif char == "\\":
                    self.escaped = True
                elif char == '"':
                    self.in_string = False
            elif char == '"':
                self.in_string = True
            elif char in "{[":
                self.depth += 1
            elif char in "}]":
                self.depth -= 1
                if self.depth == 0:
                    self.closed = True
                    return piece[: i + 1]
        return piece
