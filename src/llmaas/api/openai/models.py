"""GET /v1/models and /v1/models/{id}: OpenAI's fields plus the catalog's, which clients ignore."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter
from starlette.responses import Response

from llmaas.api.deps import ApiKeyDep, GatewayDep
from llmaas.api.openai.responses import ORJSONResponse
from llmaas.catalog import Catalog, ModelEntry, lifecycle
from llmaas.wire.responses import ModelList, ModelObject

router = APIRouter()

# A fixed date: the catalog's models exist since the platform's first release, not since start-up.
_CREATED = 1764201600


def model_object(entry: ModelEntry, *, ready: bool, aliases: list[str]) -> ModelObject:
    today = datetime.now(UTC).date()
    return ModelObject(
        id=entry.id,
        created=_CREATED,
        owned_by=entry.owned_by,
        family=entry.family,
        description=entry.description,
        capabilities=[str(capability) for capability in entry.capabilities],
        context_length=entry.context_length,
        max_output_tokens=entry.max_output_tokens,
        dimensions=entry.dimensions,
        languages=entry.languages,
        license=entry.license,
        ip_indemnity=entry.ip_indemnity,
        pricing={name: float(value) for name, value in entry.pricing.model_dump().items() if value},
        energy_kwh_per_million_tokens=entry.energy_kwh_per_million_tokens or None,
        status=lifecycle.status(entry, today),
        deprecated_at=entry.deprecated_at.isoformat() if entry.deprecated_at else None,
        retires_at=entry.retires_at.isoformat() if entry.retires_at else None,
        successor=entry.successor,
        aliases=aliases,
        ready=ready,
    )


def _aliases(catalog: Catalog, model_id: str) -> list[str]:
    return sorted(alias for alias, target in catalog.aliases.items() if target == model_id)


@router.get("/v1/models", summary="List models")
async def list_models(_key: ApiKeyDep, gateway: GatewayDep) -> Response:
    ready = gateway.router.readiness()
    data = [model_object(entry, ready=ready.get(entry.id, False), aliases=_aliases(gateway.catalog, entry.id))
            for entry in gateway.catalog]
    return ORJSONResponse(ModelList(data=data).model_dump())


@router.get("/v1/models/{model_id:path}", summary="Retrieve a model")
async def retrieve_model(model_id: str, _key: ApiKeyDep, gateway: GatewayDep) -> Response:
    entry = gateway.catalog.get(gateway.catalog.aliases.get(model_id, model_id))
    ready = gateway.router.readiness().get(entry.id, False)
    return ORJSONResponse(
        model_object(entry, ready=ready, aliases=_aliases(gateway.catalog, entry.id)).model_dump())
