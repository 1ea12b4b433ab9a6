"""POST /v1/completions"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from llmaas.api.deps import CallerDep, GatewayDep
from llmaas.api.openai.protocol import CompletionRequest
from llmaas.api.openai.responses import render

router = APIRouter()


@router.post("/v1/completions", summary="Create a text completion")
async def create_completion(
    body: CompletionRequest, request: Request, caller: CallerDep, gateway: GatewayDep
) -> Response:
    request.state.model = body.model
    return render(await gateway.completions(body, caller))
