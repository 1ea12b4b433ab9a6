"""Rendering gateway replies: JSON with orjson, streams as server-sent events, rate-limit headers."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response, StreamingResponse

from llmaas.api.openai import ratelimits
from llmaas.gateway.pipeline import Reply

_SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


class ORJSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def render(reply: Reply) -> Response:
    headers = {**ratelimits.headers(reply.limits), **reply.headers}
    if isinstance(reply.body, dict):
        return ORJSONResponse(reply.body, headers=headers)
    if isinstance(reply.body, bytes):
        return Response(reply.body, headers=headers, media_type=reply.media_type)
    return StreamingResponse(reply.body, media_type="text/event-stream", headers={**_SSE_HEADERS, **headers})
