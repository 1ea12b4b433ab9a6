"""Rendering gateway replies: JSON with orjson, streams as server-sent events, rate-limit headers."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.background import BackgroundTask
from starlette.responses import Response, StreamingResponse

from llmaas.api.openai import ratelimits
from llmaas.gateway.pipeline import Reply

_SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


class ORJSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def render(reply: Reply) -> Response:
    """The reply as a response; its `after` (the settlement) runs once the body is sent."""
    headers = {**ratelimits.headers(reply.limits), **reply.headers}
    after = None if reply.after is None else BackgroundTask(reply.after)
    if isinstance(reply.body, dict):
        return ORJSONResponse(reply.body, headers=headers, background=after)
    if isinstance(reply.body, bytes):
        return Response(reply.body, headers=headers, media_type=reply.media_type, background=after)
    return StreamingResponse(reply.body, media_type="text/event-stream", headers={**_SSE_HEADERS, **headers})
