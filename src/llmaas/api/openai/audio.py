"""POST /v1/audio/transcriptions: a multipart upload, kept in memory, relayed to a speech engine."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from llmaas.api.deps import CallerDep, GatewayDep
from llmaas.api.middleware import request_facts
from llmaas.api.openai.responses import render
from llmaas.errors import upload_refused
from llmaas.gateway.transcription import TRANSCRIBE, read_transcription
from llmaas.wire.multipart import FormError, read_form

router = APIRouter()


@router.post("/v1/audio/transcriptions", summary="Transcribe audio into text")
async def create_transcription(request: Request, caller: CallerDep, gateway: GatewayDep) -> Response:
    settings = request.app.state.settings
    try:
        form = await read_form(request.headers, request.stream(), max_bytes=settings.max_audio_bytes)
    except FormError as error:
        raise upload_refused(error) from None
    transcription = read_transcription(form)
    request_facts(request).model = gateway.label(transcription.model)
    return render(await gateway.serve(TRANSCRIBE, transcription, caller))
