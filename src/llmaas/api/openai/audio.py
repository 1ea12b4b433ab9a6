"""POST /v1/audio/transcriptions and /v1/audio/translations: a multipart upload, kept in memory,
relayed to a speech engine."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from llmaas.api.deps import CallerDep, GatewayDep
from llmaas.api.middleware import request_facts
from llmaas.api.openai.responses import render
from llmaas.errors import upload_refused
from llmaas.gateway.transcription import TRANSCRIBE, TRANSLATE, read_transcription, read_translation
from llmaas.wire.multipart import Form, FormError, read_form

router = APIRouter()


async def _form(request: Request) -> Form:
    try:
        return await read_form(request.headers, request.stream(),
                               max_bytes=request.app.state.settings.max_audio_bytes)
    except FormError as error:
        raise upload_refused(error) from None


@router.post("/v1/audio/transcriptions", summary="Transcribe audio into text")
async def create_transcription(request: Request, caller: CallerDep, gateway: GatewayDep) -> Response:
    transcription = read_transcription(await _form(request))
    request_facts(request).model = gateway.label(transcription.model)
    return render(await gateway.serve(TRANSCRIBE, transcription, caller))


@router.post("/v1/audio/translations", summary="Translate speech into English text")
async def create_translation(request: Request, caller: CallerDep, gateway: GatewayDep) -> Response:
    translation = read_translation(await _form(request))
    request_facts(request).model = gateway.label(translation.model)
    return render(await gateway.serve(TRANSLATE, translation, caller))
