"""/v1/audio/transcriptions: an upload's fields checked as OpenAI does, its audio relayed from memory.

The fields are checked before the model is looked up, as a JSON body is validated before; the audio
is measured after (pipeline.py), so an unknown model is a 404 before a byte is decoded. The answer
passes through in the format the client chose and is billed on the measured duration.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, get_args

import aiohttp
from pydantic import ValidationError

from llmaas.catalog import Capability, ModelEntry
from llmaas.errors import InvalidRequest
from llmaas.gateway.pipeline import Call, JSONObject
from llmaas.metering.pricing import Usage
from llmaas.routing import UpstreamTarget
from llmaas.wire.multipart import Form
from llmaas.wire.requests import TranscriptionFormat, TranscriptionRequest

_FIELDS = ("model", "language", "prompt", "response_format")  # strings as sent, stripped
_PASSED_ON = ("language", "prompt", "response_format", "temperature")
_GRANULARITIES = "timestamp_granularities[]"
_REFUSALS = {
    "model": "Missing required parameter: 'model'.",
    "response_format": (
        f"'response_format' must be one of {', '.join(sorted(get_args(TranscriptionFormat)))}."),
    "temperature": "'temperature' must be a number between 0 and 1.",
}


@dataclass(frozen=True, slots=True)
class Transcription:
    """A transcription request: the form's fields, and the audio beside them."""

    fields: TranscriptionRequest
    audio: bytes
    filename: str

    @property
    def model(self) -> str:
        return self.fields.model


def read_transcription(form: Form) -> Transcription:
    """The request an upload form holds; InvalidRequest names the first field at fault."""
    upload = form.files.get("file")
    if upload is None or not upload.data:
        raise InvalidRequest("Missing required parameter: 'file'.", param="file")
    fields: dict[str, Any] = {name: value for name in _FIELDS if (value := form.get(name)) is not None}
    if (temperature := form.get("temperature")) is not None:
        fields["temperature"] = _number(temperature)
    if granularities := form.fields.get(_GRANULARITIES):
        fields["timestamp_granularities"] = granularities
    try:
        request = TranscriptionRequest.model_validate(fields)
    except ValidationError as error:
        param = str(error.errors()[0]["loc"][0])
        raise InvalidRequest(_REFUSALS.get(param, f"Invalid value for '{param}'."), param=param) from None
    return Transcription(request, upload.data, upload.filename or "audio")


def _number(text: str) -> float | str:
    try:
        return float(text)
    except ValueError:
        return text  # the wire model refuses it


class Transcribe:
    endpoint = "/v1/audio/transcriptions"
    capability = Capability.TRANSCRIPTION

    def check(self, entry: ModelEntry, request: Transcription) -> Call:
        fields = request.fields
        passed = [(name, str(value)) for name in _PASSED_ON if (value := getattr(fields, name)) is not None]
        passed += [(_GRANULARITIES, value) for value in fields.timestamp_granularities or ()]

        def form(target: UpstreamTarget) -> aiohttp.FormData:
            data = aiohttp.FormData()
            data.add_field("model", target.model)
            for name, value in passed:
                data.add_field(name, value)
            data.add_field("file", request.audio, filename=request.filename,
                           content_type="application/octet-stream")
            return data

        return Call("/audio/transcriptions", form=form, audio=request.audio)

    def texts(self, request: Transcription) -> Iterator[str]:
        if request.fields.prompt:
            yield request.fields.prompt

    def usage(self, call: Call, body: JSONObject) -> Usage:
        # The duration measured before forwarding, the figure the reservation held, whatever
        # response format the client chose.
        return Usage(audio_seconds=call.audio_seconds)

    def finish(self, request: Transcription, body: JSONObject) -> None:
        pass


TRANSCRIBE = Transcribe()
