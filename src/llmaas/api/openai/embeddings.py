"""POST /v1/embeddings"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from llmaas.api.deps import CallerDep, GatewayDep
from llmaas.api.openai.protocol import EmbeddingRequest
from llmaas.api.openai.responses import render

router = APIRouter()


@router.post("/v1/embeddings", summary="Create embeddings")
async def create_embeddings(
    body: EmbeddingRequest, request: Request, caller: CallerDep, gateway: GatewayDep
) -> Response:
    request.state.model = body.model
    return render(await gateway.embeddings(body, caller))
