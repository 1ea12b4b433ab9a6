"""A chat completion's stream, told as the Responses API's events.

The relay (streams.py) has already done a chat stream's work: the engine's internals removed, tool
calls written as text turned into `delta.tool_calls` (toolstreams.py), the usage counted and billed.
`ResponseEvents` reads what it hands the client and writes OpenAI's events instead, each with its
`sequence_number`:

    response.created, response.in_progress
    for a text:  response.output_item.added, response.content_part.added,
                 response.output_text.delta ..., response.output_text.done,
                 response.content_part.done, response.output_item.done
    for a call:  response.output_item.added, response.function_call_arguments.delta ...,
                 response.function_call_arguments.done, response.output_item.done
    response.completed (response.incomplete when the answer hit max_output_tokens)

An engine that fails mid-answer ends the stream with `response.failed`. There is no `[DONE]`.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from typing import Any

import orjson

from llmaas.gateway.responseitems import (
    JSONObject,
    ended,
    function_call_item,
    message_item,
    output_text,
    response_usage,
)


class ResponseEvents:
    """Rewrites one chat stream (the relay's writes) as one response's events."""

    def __init__(self, response: JSONObject) -> None:
        self.response = response  # status in_progress, no output yet
        self.sequence = 0
        self.output: list[JSONObject] = []  # finished items
        self.item: JSONObject | None = None  # the item being written
        self.text = ""  # of the message item being written
        self.calls: set[int] = set()  # the chat stream's tool-call indexes seen
        self.finish_reason: Any = None
        self.usage: Any = None
        self.over = False

    async def __call__(self, chat: AsyncGenerator[bytes, None]) -> AsyncIterator[bytes]:
        # aclosing: when the client leaves, the relay still settles the bill (its `finally`).
        async with aclosing(chat):
            yield self._event("response.created", response=self._snapshot()) + self._event(
                "response.in_progress", response=self._snapshot())
            async for written in chat:
                # The relay writes whole events, several at times.
                events = [self._data(line[5:].strip()) for line in written.splitlines()
                          if line.startswith(b"data:")]
                if out := b"".join(event for each in events for event in each):
                    yield out
                if self.over:
                    return
            if not self.over:
                yield b"".join(self._complete())

    def _data(self, data: bytes) -> list[bytes]:
        if self.over:
            return []
        if data == b"[DONE]":
            return self._complete()
        chunk = orjson.loads(data)
        if not isinstance(chunk, dict):
            return []
        if isinstance(chunk.get("error"), dict):
            return self._fail(chunk["error"])
        if chunk.get("usage"):
            self.usage = chunk["usage"]
        choices = chunk.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            return []
        choice = choices[0]
        delta = choice.get("delta") or {}
        out: list[bytes] = []
        if isinstance(delta.get("content"), str) and delta["content"]:
            out += self._text(delta["content"])
        for call in delta.get("tool_calls") or []:
            if isinstance(call, dict):
                out += self._call(call)
        if choice.get("finish_reason") is not None:
            self.finish_reason = choice["finish_reason"]
        return out

    # -- items ----------------------------------------------------------------------------------

    def _text(self, piece: str) -> list[bytes]:
        out: list[bytes] = []
        if self.item is None or self.item["type"] != "message":
            out += self._close()
            self.item, self.text = message_item("", status="in_progress"), ""
            out += [self._event("response.output_item.added", output_index=len(self.output), item=self.item),
                    self._event("response.content_part.added", **self._where(), part=output_text(""))]
        self.text += piece
        return [*out, self._event("response.output_text.delta", **self._where(), delta=piece, logprobs=[])]

    def _call(self, call: JSONObject) -> list[bytes]:
        out: list[bytes] = []
        function = call.get("function") or {}
        index = call.get("index", 0)
        if index not in self.calls:
            self.calls.add(index)
            out += self._close()
            self.item = function_call_item(str(call.get("id") or ""), str(function.get("name") or ""), "",
                                           status="in_progress")
            out.append(self._event("response.output_item.added", output_index=len(self.output),
                                   item=self.item))
        elif self.item is not None and isinstance(function.get("name"), str):
            self.item["name"] += function["name"]
        assert self.item is not None
        piece = function.get("arguments")
        if isinstance(piece, str) and piece:
            self.item["arguments"] += piece
            out.append(self._event("response.function_call_arguments.delta", item_id=self.item["id"],
                                   output_index=len(self.output), delta=piece))
        return out

    def _close(self) -> list[bytes]:
        """Finish the item being written, if any."""
        item, self.item = self.item, None
        if item is None:
            return []
        index = len(self.output)
        if item["type"] == "message":
            done = message_item(self.text, item_id=item["id"])
            where = {"item_id": item["id"], "output_index": index, "content_index": 0}
            out = [self._event("response.output_text.done", **where, text=self.text, logprobs=[]),
                   self._event("response.content_part.done", **where, part=output_text(self.text))]
        else:
            done = {**item, "status": "completed"}
            out = [self._event("response.function_call_arguments.done", item_id=item["id"],
                               output_index=index, name=item["name"], arguments=item["arguments"])]
        self.output.append(done)
        return [*out, self._event("response.output_item.done", output_index=index, item=done)]

    def _where(self) -> JSONObject:
        assert self.item is not None
        return {"item_id": self.item["id"], "output_index": len(self.output), "content_index": 0}

    # -- the end --------------------------------------------------------------------------------

    def _complete(self) -> list[bytes]:
        out = self._close()
        self.over = True
        response = self._snapshot()
        response["output"] = self.output
        if (usage := response_usage(self.usage)) is not None:
            response["usage"] = usage
        ended(response, self.finish_reason)
        kind = "response.completed" if response["status"] == "completed" else "response.incomplete"
        return [*out, self._event(kind, response=response)]

    def _fail(self, error: JSONObject) -> list[bytes]:
        self.over = True
        response = self._snapshot()
        response["status"] = "failed"
        response["output"] = self.output
        response["error"] = {"code": "server_error", "message": str(error.get("message") or "")}
        return [self._event("response.failed", response=response)]

    def _snapshot(self) -> JSONObject:
        return copy.deepcopy(self.response)

    def _event(self, kind: str, **fields: Any) -> bytes:
        payload = orjson.dumps({"type": kind, **fields, "sequence_number": self.sequence})
        self.sequence += 1
        return b"event: " + kind.encode() + b"\ndata: " + payload + b"\n\n"
