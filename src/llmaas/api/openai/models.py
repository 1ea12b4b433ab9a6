"""GET /v1/models and /v1/models/{id}: OpenAI's fields plus the catalog's, which clients ignore."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.responses import Response

from llmaas.api.deps import ApiKeyDep, GatewayDep
from llmaas.api.openai.responses import ORJSONResponse
from llmaas.catalog import ModelEntry

router = APIRouter()

# A fixed date: the catalog's models exist since the platform's first release, not since start-up.
_CREATED = 1764201600


def model_object(entry: ModelEntry, *, ready: bool) -> dict[str, Any]:
    return {
        "id": entry.id,
        "object": "model",
        "created": _CREATED,
        "owned_by": entry.owned_by,
        "family": entry.family,
        "description": entry.description,
        "capabilities": [str(capability) for capability in entry.capabilities],
        "context_length": entry.context_length,
        "max_output_tokens": entry.max_output_tokens,
        "dimensions": entry.dimensions,
        "languages": entry.languages,
        "license": entry.license,
        "ready": ready,
    }


@router.get("/v1/models", summary="List models")
async def list_models(_key: ApiKeyDep, gateway: GatewayDep) -> Response:
    ready = gateway.router.readiness()
    data = [model_object(entry, ready=ready.get(entry.id, False)) for entry in gateway.catalog]
    return ORJSONResponse({"object": "list", "data": data})


@router.get("/v1/models/{model_id:path}", summary="Retrieve a model")
async def retrieve_model(model_id: str, _key: ApiKeyDep, gateway: GatewayDep) -> Response:
    entry = gateway.catalog.get(model_id)
    return ORJSONResponse(model_object(entry, ready=gateway.router.readiness().get(entry.id, False)))
