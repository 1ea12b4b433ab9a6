"""A fake OpenAI-compatible engine for gateway-logic tests (slow, broken, recording).

Never a stand-in for the real engines end to end: tests/e2e runs those.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

USAGE = {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}
FINGERPRINT = "b0-fake-engine"
TIMINGS = {"prompt_n": 7, "prompt_ms": 1.5, "predicted_n": 3, "predicted_ms": 2.5}


@dataclass
class FakeEngine:
    """Set `mode` to change behaviour: ok, context_error, server_error, garbage, die_mid_stream, slow,
    hang; refuse_file (transcriptions and translations only).

    `delay_s` holds every chat and completion answer that long (so concurrent requests overlap);
    `usage` is what they report (tests.fakes.USAGE unless a test sets its own), or, when set,
    `usage_for(request body)`. `pieces`, when set, is the answer as the model writes it, one piece
    per stream chunk. Like llama.cpp's server, every answer carries engine internals (a build
    fingerprint, `timings`, a prompt-cache count) that the gateway must not pass on.
    """

    model: str
    mode: str = "ok"
    requests: list[dict[str, Any]] = field(default_factory=list)
    forms: list[dict[str, Any]] = field(default_factory=list)
    delay_s: float = 0.0
    usage: dict[str, int] = field(default_factory=lambda: dict(USAGE))
    usage_for: Callable[[dict[str, Any]], dict[str, int]] | None = None
    pieces: list[str] | None = None

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v1/models", self.models),
                Route("/v1/chat/completions", self.chat, methods=["POST"]),
                Route("/v1/completions", self.chat, methods=["POST"]),
                Route("/v1/embeddings", self.embeddings, methods=["POST"]),
                Route("/v1/rerank", self.rerank, methods=["POST"]),
                Route("/v1/audio/transcriptions", self.transcriptions, methods=["POST"]),
                Route("/v1/audio/translations", self.transcriptions, methods=["POST"]),
            ]
        )

    async def models(self, request: Request) -> Response:
        return JSONResponse({"object": "list", "data": [{"id": self.model, "object": "model"}]})

    async def chat(self, request: Request) -> Response:
        body = orjson.loads(await request.body())
        self.requests.append(body)
        if self.mode == "context_error":
            error = {"code": 400, "message": "the request exceeds the available context size",
                     "type": "exceed_context_size_error"}
            return JSONResponse({"error": error}, status_code=400)
        if self.mode == "server_error":
            return JSONResponse({"error": {"message": "boom"}}, status_code=500)
        if self.mode == "garbage":
            return Response(b"<html>oops</html>", status_code=500)
        if self.mode == "hang":
            await asyncio.sleep(3)  # longer than the tests' upstream timeout
        if self.mode == "slow":
            await asyncio.sleep(0.5)
        if self.delay_s > 0:
            await asyncio.sleep(self.delay_s)
        text = request.url.path.endswith("/completions") and not request.url.path.endswith("chat/completions")
        if body.get("stream"):
            return StreamingResponse(self._stream(body, text=text), media_type="text/event-stream")
        content = "".join(self.pieces) if self.pieces is not None else "Hello there"
        choice: dict[str, Any] = {"index": 0, "finish_reason": "stop"}
        if text:
            choice["text"] = content
        else:
            choice["message"] = {"role": "assistant", "content": content}
        return JSONResponse({
            "id": "chatcmpl-1", "object": "text_completion" if text else "chat.completion", "created": 1,
            "model": self.model, "system_fingerprint": FINGERPRINT, "choices": [choice],
            "usage": self._usage(body), "timings": TIMINGS,
        })

    async def _stream(self, body: dict[str, Any], *, text: bool) -> AsyncIterator[bytes]:
        kind = "text_completion" if text else "chat.completion.chunk"
        envelope = {"id": "c1", "object": kind, "created": 1, "model": self.model,
                    "system_fingerprint": FINGERPRINT}
        pieces = self.pieces if self.pieces is not None else ["Hello", " there", " friend"]
        for i, word in enumerate(pieces):
            if self.mode == "die_mid_stream" and i == 2:
                raise RuntimeError("engine died")  # uvicorn drops the connection
            said = {"text": word} if text else {"delta": {"content": word}}
            yield b"data: " + orjson.dumps({**envelope, "choices": [
                {"index": 0, **said, "finish_reason": None}]}) + b"\n\n"
        include_usage = (body.get("stream_options") or {}).get("include_usage")
        last: dict[str, Any] = {**envelope, "choices": [
            {"index": 0, **({"text": ""} if text else {"delta": {}}), "finish_reason": "stop"}],
            "timings": TIMINGS}
        if text and include_usage:  # as llama.cpp does: usage on the last text chunk
            last["usage"] = self._usage(body)
        yield b"data: " + orjson.dumps(last) + b"\n\n"
        if include_usage and not text:
            usage = {**envelope, "choices": [], "usage": self._usage(body), "timings": TIMINGS}
            yield b"data: " + orjson.dumps(usage) + b"\n\n"
        yield b"data: [DONE]\n\n"

    def _usage(self, body: dict[str, Any]) -> dict[str, Any]:
        usage = self.usage if self.usage_for is None else self.usage_for(body)
        return {**usage, "prompt_tokens_details": {"cached_tokens": 2}}

    async def embeddings(self, request: Request) -> Response:
        body = orjson.loads(await request.body())
        self.requests.append(body)
        texts = [body["input"]] if isinstance(body["input"], str) else body["input"]
        data = [{"object": "embedding", "index": i, "embedding": [0.6, 0.8]} for i in range(len(texts))]
        return JSONResponse({"object": "list", "data": data, "model": self.model,
                             "usage": {"prompt_tokens": len(texts), "total_tokens": len(texts)}})

    async def rerank(self, request: Request) -> Response:
        body = orjson.loads(await request.body())
        self.requests.append(body)
        results = [{"index": i, "relevance_score": 1.0 / (i + 1)} for i in range(len(body["documents"]))]
        return JSONResponse({"id": "rr-1", "model": self.model, "results": results[: body.get("top_n")],
                             "usage": {"total_tokens": 11}})

    async def transcriptions(self, request: Request) -> Response:
        async with request.form() as form:
            upload = form["file"]
            assert not isinstance(upload, str)
            fields = {k: v for k, v in form.multi_items() if isinstance(v, str)}
            self.forms.append({**fields, "file": await upload.read(), "path": request.url.path})
        if self.mode == "refuse_file":  # as the transcription worker refuses audio it cannot decode
            error = {"message": "The audio could not be decoded.", "type": "invalid_request_error",
                     "param": "file", "code": None}
            return JSONResponse({"error": error}, status_code=400)
        if fields.get("response_format") == "text":
            return Response("hello world\n", media_type="text/plain")
        return JSONResponse({"text": "hello world"})
