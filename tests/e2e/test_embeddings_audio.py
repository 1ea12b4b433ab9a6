"""Embeddings and transcription on the real embedded models, through the official SDK."""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
from pathlib import Path

import httpx
import jiwer
import numpy as np
import pytest

from tests.e2e.conftest import Served

pytestmark = pytest.mark.e2e


def cosine(a: list[float], b: list[float]) -> float:
    va, vb = np.asarray(a), np.asarray(b)
    return float(va @ vb / (np.linalg.norm(va) * np.linalg.norm(vb)))


@pytest.mark.parametrize(
    ("model", "anchor", "related", "unrelated"),
    [
        ("all-minilm-l6-v2", "The cat sleeps on the sofa.", "A kitten naps on the couch.",
         "Stock markets fell sharply yesterday."),
        ("multilingual-e5-small", "Le chat dort sur le canapé.", "Un chaton fait la sieste sur le sofa.",
         "La bourse a fortement chuté hier."),
        ("multilingual-e5-small", "The cat sleeps on the sofa.", "Le chat dort sur le canapé.",
         "La bourse a fortement chuté hier."),
    ],
)
def test_related_sentences_are_closer(
    served: Served, model: str, anchor: str, related: str, unrelated: str
) -> None:
    result = served.client().embeddings.create(model=model, input=[anchor, related, unrelated])
    vectors = [item.embedding for item in result.data]
    assert all(len(v) == 384 for v in vectors)
    assert cosine(vectors[0], vectors[1]) > cosine(vectors[0], vectors[2])
    assert result.usage.prompt_tokens > 0 and result.model == model


def test_base64_embeddings_match_float_ones(served: Served) -> None:
    client = served.client()
    as_float = client.embeddings.create(model="all-minilm-l6-v2", input="hello world",
                                        encoding_format="float")
    raw = client.with_raw_response.embeddings.create(
        model="all-minilm-l6-v2", input="hello world", encoding_format="base64"
    ).http_response.json()
    decoded = np.frombuffer(base64.b64decode(raw["data"][0]["embedding"]), dtype="<f4")
    assert np.allclose(decoded, as_float.data[0].embedding, atol=1e-6)


SENTENCE = "The quick brown fox jumps over the lazy dog near the river bank."


def speak(text: str, path: Path, voice: str = "en") -> Path:
    if shutil.which("espeak-ng") is None:
        pytest.fail("espeak-ng is missing: `make test` installs it")
    subprocess.run(["espeak-ng", "-v", voice, "-s", "150", "-w", str(path), text], check=True)
    return path


def words(text: str) -> str:
    return re.sub(r"[^\w\s']", " ", text.lower()).strip()


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return speak(SENTENCE, tmp_path_factory.mktemp("audio") / "fox.wav").read_bytes()


@pytest.mark.parametrize("model", ["whisper-tiny.en", "whisper-base"])
def test_transcription_word_error_rate(served: Served, speech: bytes, model: str) -> None:
    result = served.client().audio.transcriptions.create(
        model=model, file=("fox.wav", speech), language="en"
    )
    assert jiwer.wer(words(SENTENCE), words(result.text)) <= 0.3


@pytest.mark.parametrize(
    ("response_format", "separator"), [("srt", ","), ("vtt", ".")]
)
def test_subtitle_formats(served: Served, speech: bytes, response_format: str, separator: str) -> None:
    text = served.client().audio.transcriptions.create(
        model="whisper-tiny.en", file=("fox.wav", speech), response_format=response_format  # type: ignore[call-overload]
    )
    stamp = rf"\d\d:\d\d:\d\d{re.escape(separator)}\d\d\d --> \d\d:\d\d:\d\d{re.escape(separator)}\d\d\d"
    assert re.search(stamp, text)
    assert (response_format == "vtt") == text.startswith("WEBVTT")
    assert "fox" in text.lower()


def test_french_transcription_with_the_multilingual_model(
    served: Served, tmp_path: Path
) -> None:
    sentence = "Bonjour, je voudrais réserver une table pour deux personnes ce soir."
    audio = speak(sentence, tmp_path / "fr.wav", voice="fr").read_bytes()
    result = served.client().audio.transcriptions.create(
        model="whisper-base", file=("fr.wav", audio), language="fr"
    )
    assert jiwer.wer(words(sentence), words(result.text)) <= 0.5


def test_rerank_on_the_embedded_multilingual_model(served: Served) -> None:
    documents = ["La bourse a fortement chuté hier.", "Le chat dort sur le canapé du salon.",
                 "The match ended in a draw."]
    response = httpx.post(
        f"{served.url}/v1/rerank", headers={"Authorization": f"Bearer {served.key}"},
        json={"model": "rerank-default", "query": "Où dort le chat ?", "documents": documents},
    )
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert results[0]["index"] == 1 and len(results) == 3
    assert response.json()["model"] == "multilingual-e5-small"
