"""/v1/audio/translations through the gateway, against a fake engine: relay, refusals, metering."""

from __future__ import annotations

import warnings
from typing import Any

import httpx
import openai
import pytest

from tests.audio import silent_wav
from tests.fakes import FakeEngine
from tests.gateway.conftest import Platform
from tests.gateway.test_accounting import events, prefix
from tests.gateway.test_errors import assert_error

URL = "/v1/audio/translations"


def translate(client: openai.OpenAI, **fields: Any) -> Any:
    """The SDK's call; openai marks the endpoint deprecated at OpenAI (it shuts its own down in 2027)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return client.audio.translations.create(**fields)


def post(platform: Platform, data: dict[str, str | list[str]]) -> httpx.Response:
    return httpx.post(f"{platform.url}{URL}", data=data, files={"file": ("a.wav", silent_wav(1.0))},
                      headers={"Authorization": f"Bearer {platform.key}"})


def test_a_translation_is_relayed_with_openai_fields(platform: Platform, engine: FakeEngine) -> None:
    audio = silent_wav(1.0)
    text = translate(
        platform.client,
        model="speech-multi", file=("speech.wav", audio), response_format="text", prompt="Bonjour.",
        temperature=0.2,
    )
    assert text.strip() == "hello world"
    sent = engine.forms[-1]
    assert (sent["path"], sent["file"], sent["model"]) == ("/v1/audio/translations", audio, "upstream-name")
    assert (sent["prompt"], sent["response_format"], sent["temperature"]) == ("Bonjour.", "text", "0.2")
    json = translate(platform.client, model="speech-multi", file=("speech.wav", audio))
    assert json.text == "hello world"


def test_an_english_only_model_cannot_translate(platform: Platform, engine: FakeEngine) -> None:
    before = len(engine.forms)
    with pytest.raises(openai.BadRequestError) as caught:
        translate(platform.client, model="speech-model", file=("a.wav", silent_wav(1.0)))
    body = caught.value.body
    assert (body["code"], body["param"]) == ("model_not_supported", "model")  # type: ignore[index]
    assert len(engine.forms) == before


@pytest.mark.parametrize(("data", "param"), [
    ({"language": "fr"}, "language"),  # the target is English: OpenAI's schema has no language
    ({"timestamp_granularities[]": ["segment"], "response_format": "verbose_json"},
     "timestamp_granularities[]"),
    ({"stream": "false"}, "stream"),
    ({"n_predict": "5"}, "n_predict"),
])
def test_fields_openai_translations_lack_are_refused(
    platform: Platform, engine: FakeEngine, data: dict[str, str | list[str]], param: str
) -> None:
    before = len(engine.forms)
    error = assert_error(post(platform, {"model": "speech-multi", **data}), 400, param=param)
    assert error["message"] == f"Unrecognized request argument supplied: {param}"
    assert len(engine.forms) == before


@pytest.mark.parametrize(("data", "param"), [
    ({}, "model"),
    ({"model": "speech-multi", "response_format": "mp4"}, "response_format"),
    ({"model": "speech-multi", "temperature": "1.5"}, "temperature"),
])
def test_bad_values_are_a_400_naming_the_field(
    platform: Platform, engine: FakeEngine, data: dict[str, str | list[str]], param: str
) -> None:
    assert_error(post(platform, data), 400, param=param)


def test_a_translation_bills_every_started_minute(platform: Platform, engine: FakeEngine) -> None:
    client = platform.new_key()
    translate(client, model="speech-multi", file=("a.wav", silent_wav(61, rate=100)))
    [row] = events(platform, prefix(client))
    assert row.endpoint == URL
    assert row.billed_minutes == 2 and row.audio_seconds == pytest.approx(61)
    assert row.cost_nano == 2 * 1_000_000_000  # 1 EUR per started minute


def test_the_route_is_in_the_api_reference(platform: Platform) -> None:
    schema = httpx.get(f"{platform.url}/openapi.json").json()
    body = schema["paths"][URL]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert set(body["properties"]) == {"file", "model", "prompt", "response_format", "temperature"}
    assert body["required"] == ["file", "model"]
    transcriptions = schema["paths"]["/v1/audio/transcriptions"]["post"]["requestBody"]["content"]
    assert "timestamp_granularities[]" in transcriptions["multipart/form-data"]["schema"]["properties"]
