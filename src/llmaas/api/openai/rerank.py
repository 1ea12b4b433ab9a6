"""POST /v1/rerank (the Cohere/Jina shape vLLM serves): documents ordered by relevance to a query."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from llmaas.api.deps import CallerDep, GatewayDep
from llmaas.api.openai.protocol import RerankRequest
from llmaas.api.openai.responses import render

router = APIRouter()


@router.post("/v1/rerank", summary="Rerank documents by relevance to a query")
async def create_rerank(
    body: RerankRequest, request: Request, caller: CallerDep, gateway: GatewayDep
) -> Response:
    request.state.model = body.model
    return render(await gateway.rerank(body, caller))
