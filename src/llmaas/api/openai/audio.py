"""POST /v1/audio/transcriptions and /v1/audio/translations: a multipart upload, kept in memory,
relayed to a speech engine."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel
from starlette.responses import Response

from llmaas.api.deps import CallerDep, GatewayDep
from llmaas.api.middleware import request_facts
from llmaas.api.openai.responses import render
from llmaas.errors import upload_refused
from llmaas.gateway.transcription import TRANSCRIBE, TRANSLATE, read_transcription, read_translation
from llmaas.wire.multipart import Form, FormError, read_form
from llmaas.wire.requests import TranscriptionRequest, TranslationRequest

router = APIRouter()


def _documented(fields: type[BaseModel]) -> dict[str, Any]:
    """The form, for the OpenAPI document: the routes read the body themselves, in memory."""
    schema = fields.model_json_schema()
    properties = {"file": {"type": "string", "format": "binary", "description": "The audio."}}
    for name, field in schema["properties"].items():
        listed = any(kind.get("type") == "array" for kind in [field, *field.get("anyOf", [])])
        properties[f"{name}[]" if listed else name] = field  # sent once per value, as the SDK does
    form = {"type": "object", "required": ["file", *schema.get("required", [])], "properties": properties}
    return {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": form}}}}


async def _form(request: Request) -> Form:
    try:
        return await read_form(request.headers, request.stream(),
                               max_bytes=request.app.state.settings.max_audio_bytes)
    except FormError as error:
        raise upload_refused(error) from None


@router.post("/v1/audio/transcriptions", summary="Transcribe audio into text",
             openapi_extra=_documented(TranscriptionRequest))
async def create_transcription(request: Request, caller: CallerDep, gateway: GatewayDep) -> Response:
    transcription = read_transcription(await _form(request))
    request_facts(request).model = gateway.label(transcription.model)
    return render(await gateway.serve(TRANSCRIBE, transcription, caller, settle_after=True))


@router.post("/v1/audio/translations", summary="Translate speech into English text",
             openapi_extra=_documented(TranslationRequest))
async def create_translation(request: Request, caller: CallerDep, gateway: GatewayDep) -> Response:
    translation = read_translation(await _form(request))
    request_facts(request).model = gateway.label(translation.model)
    return render(await gateway.serve(TRANSLATE, translation, caller, settle_after=True))
