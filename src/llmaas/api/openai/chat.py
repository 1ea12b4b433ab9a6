"""POST /v1/chat/completions"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from llmaas.api.deps import CallerDep, GatewayDep
from llmaas.api.openai.protocol import ChatCompletionRequest
from llmaas.api.openai.responses import render

router = APIRouter()


@router.post("/v1/chat/completions", summary="Create a chat completion")
async def create_chat_completion(
    body: ChatCompletionRequest, request: Request, caller: CallerDep, gateway: GatewayDep
) -> Response:
    request.state.model = body.model
    return render(await gateway.chat(body, caller))
