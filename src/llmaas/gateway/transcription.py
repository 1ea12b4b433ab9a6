"""/v1/audio/transcriptions and /v1/audio/translations: an upload's fields checked as OpenAI does, its
audio relayed from memory.

The fields are checked before the model is looked up, as a JSON body is validated before; the audio
is measured after (pipeline.py), so an unknown model is a 404 before a byte is decoded. A form field
the endpoint does not declare is refused as an unknown JSON field is (a translation's `language`,
say: its target is English). The answer passes through in the format the client chose and is billed
on the measured duration.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, get_args

import aiohttp
from pydantic import ValidationError

from llmaas.catalog import Capability, ModelEntry
from llmaas.errors import InvalidRequest
from llmaas.gateway.pipeline import Call, JSONObject
from llmaas.metering.pricing import Usage
from llmaas.routing import UpstreamTarget
from llmaas.wire.multipart import Form
from llmaas.wire.requests import TranscriptionFormat, TranscriptionRequest, TranslationRequest

FieldsT = TypeVar("FieldsT", TranscriptionRequest, TranslationRequest)

_LISTS = frozenset({"timestamp_granularities"})  # sent as `name[]`, once per value
_REFUSALS = {
    "model": "Missing required parameter: 'model'.",
    "response_format": (
        f"'response_format' must be one of {', '.join(sorted(get_args(TranscriptionFormat)))}."),
    "temperature": "'temperature' must be a number between 0 and 1.",
    "stream": "Streaming is not supported: the transcript comes whole, once the audio is decoded.",
}


@dataclass(frozen=True, slots=True)
class Upload(Generic[FieldsT]):
    """An audio request: the form's fields, and the audio beside them."""

    fields: FieldsT
    audio: bytes
    filename: str

    @property
    def model(self) -> str:
        return self.fields.model


Transcription = Upload[TranscriptionRequest]
Translation = Upload[TranslationRequest]


def read_transcription(form: Form) -> Transcription:
    """The request an upload form holds; InvalidRequest names the first field at fault."""
    return _read(form, TranscriptionRequest)


def read_translation(form: Form) -> Translation:
    """As `read_transcription`, with OpenAI's fields for translations."""
    return _read(form, TranslationRequest)


def _read(form: Form, schema: type[FieldsT]) -> Upload[FieldsT]:
    upload = form.files.get("file")
    if upload is None or not upload.data:
        raise InvalidRequest("Missing required parameter: 'file'.", param="file")
    try:
        fields = schema.model_validate(_values(form))
    except ValidationError as error:
        first = error.errors()[0]
        name = str(first["loc"][0])
        param = f"{name}[]" if name in _LISTS else name
        message = (f"Unrecognized request argument supplied: {param}" if first["type"] == "extra_forbidden"
                   else _REFUSALS.get(name, f"Invalid value for '{param}'."))
        raise InvalidRequest(message, param=param) from None
    return Upload(fields, upload.data, upload.filename or "audio")


def _values(form: Form) -> dict[str, Any]:
    """The form's fields as the wire model reads them: numbers and booleans parsed, lists gathered."""
    values: dict[str, Any] = {}
    for name, sent in form.fields.items():
        key = name.removesuffix("[]")
        if key in _LISTS:
            values.setdefault(key, []).extend(value.strip() for value in sent)
        elif name == "temperature":
            values[name] = _number(sent[-1].strip())
        elif name == "stream":
            values[name] = {"false": False, "0": False}.get(sent[-1].strip().lower(), sent[-1])
        else:
            values[name] = sent[-1].strip()
    return values


def _number(text: str) -> float | str:
    try:
        return float(text)
    except ValueError:
        return text  # the wire model refuses it


class _Speech(Generic[FieldsT]):
    """What transcriptions and translations share: the upload relayed, the measured audio billed."""

    endpoint: str
    capability: Capability
    path: str  # on the engine

    def check(self, entry: ModelEntry, request: Upload[FieldsT]) -> Call:
        sent = request.fields.model_dump(exclude_none=True, exclude={"model", "stream"})
        passed = [(f"{name}[]" if name in _LISTS else name, str(value))
                  for name, field in sent.items()
                  for value in (field if isinstance(field, list) else [field])]

        def form(target: UpstreamTarget) -> aiohttp.FormData:
            data = aiohttp.FormData()
            data.add_field("model", target.model)
            for name, value in passed:
                data.add_field(name, value)
            data.add_field("file", request.audio, filename=request.filename,
                           content_type="application/octet-stream")
            return data

        return Call(self.path, form=form, audio=request.audio)

    def texts(self, request: Upload[FieldsT]) -> Iterator[str]:
        if request.fields.prompt:
            yield request.fields.prompt

    def usage(self, call: Call, body: JSONObject) -> Usage:
        # The duration measured before forwarding, the figure the reservation held, whatever
        # response format the client chose.
        return Usage(audio_seconds=call.audio_seconds)

    def finish(self, request: Upload[FieldsT], body: JSONObject) -> None:
        pass


class Transcribe(_Speech[TranscriptionRequest]):
    endpoint = "/v1/audio/transcriptions"
    capability = Capability.TRANSCRIPTION
    path = "/audio/transcriptions"


class Translate(_Speech[TranslationRequest]):
    """Speech in any language the model knows, as English text (Whisper's `translate` task)."""

    endpoint = "/v1/audio/translations"
    capability = Capability.TRANSLATION
    path = "/audio/translations"


TRANSCRIBE = Transcribe()
TRANSLATE = Translate()
