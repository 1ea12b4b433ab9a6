"""POST /v1/audio/transcriptions: a multipart upload, kept in memory, relayed to a speech engine."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from llmaas.api.deps import CallerDep, GatewayDep
from llmaas.api.openai.responses import render
from llmaas.catalog import Capability
from llmaas.errors import InvalidRequest, upload_refused
from llmaas.gateway.media import audio_duration
from llmaas.wire.multipart import FormError, read_form

router = APIRouter()

_FORMATS = {"json", "text", "srt", "verbose_json", "vtt"}
_PASSED_ON = ("language", "prompt", "response_format", "temperature")


@router.post("/v1/audio/transcriptions", summary="Transcribe audio into text")
async def create_transcription(request: Request, caller: CallerDep, gateway: GatewayDep) -> Response:
    settings = request.app.state.settings
    try:
        form = await read_form(request.headers, request.stream(), max_bytes=settings.max_audio_bytes)
    except FormError as error:
        raise upload_refused(error) from None
    upload = form.files.get("file")
    if upload is None or not upload.data:
        raise InvalidRequest("Missing required parameter: 'file'.", param="file")
    model = form.get("model")
    if not model:
        raise InvalidRequest("Missing required parameter: 'model'.", param="model")
    request.state.model = model
    fields = {name: value for name in _PASSED_ON if (value := form.get(name)) is not None}
    if fields.get("response_format", "json") not in _FORMATS:
        raise InvalidRequest(
            f"'response_format' must be one of {', '.join(sorted(_FORMATS))}.", param="response_format"
        )
    if "temperature" in fields:
        try:
            temperature = float(fields["temperature"])
        except ValueError:
            temperature = -1.0
        if not 0 <= temperature <= 1:
            raise InvalidRequest("'temperature' must be a number between 0 and 1.", param="temperature")
    passed = list(fields.items()) + [
        ("timestamp_granularities[]", value)  # the engine validates these
        for value in form.fields.get("timestamp_granularities[]", [])
    ]
    gateway.model(model, Capability.TRANSCRIPTION, "/v1/audio/transcriptions")  # 404/400 before decoding
    seconds = await run_in_threadpool(audio_duration, upload.data)
    return render(await gateway.transcribe(
        model_id=model, fields=passed, audio=upload.data, filename=upload.filename or "audio",
        audio_seconds=seconds, caller=caller,
    ))
