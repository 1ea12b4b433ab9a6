"""/v1/audio/translations with the official SDK against `llmaas serve` and the real Whisper models."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import openai
import pytest

from tests.e2e.conftest import Served
from tests.engines.speech import (
    FRENCH,
    FRENCH_IN_ENGLISH,
    espeak_available,
    normalize,
    speak,
    word_error_rate,
)


@pytest.fixture(scope="module")
def french() -> bytes:
    if not espeak_available():
        pytest.fail("espeak-ng is missing: `make test` installs it")
    return speak(FRENCH, voice="fr")


@pytest.fixture(autouse=True)
def _deprecated_at_openai() -> Iterator[None]:
    # The SDK marks the endpoint deprecated: OpenAI shuts its own down in 2027. Not this one.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        yield


def test_french_speech_comes_back_in_english(served: Served, french: bytes) -> None:
    client = served.client()
    result = client.audio.translations.create(model="whisper-base", file=("fr.wav", french))
    assert word_error_rate(FRENCH_IN_ENGLISH, result.text) <= 0.6, result.text
    assert {"thank", "happy", "coffee"} <= set(normalize(result.text).split()), result.text
    verbose = client.audio.translations.create(
        model="whisper-base", file=("fr.wav", french), response_format="verbose_json")
    assert (verbose.language, verbose.text) == ("english", result.text)
    assert verbose.model_extra and verbose.model_extra["task"] == "translate"
    subtitles = client.audio.translations.create(
        model="whisper-base", file=("fr.wav", french), response_format="srt")
    assert subtitles.startswith("1\n00:00:00,000 --> ")


def test_the_english_only_model_does_not_translate(served: Served, french: bytes) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        served.client().audio.translations.create(model="whisper-tiny.en", file=("fr.wav", french))
    assert caught.value.code == "model_not_supported"
