"""Spoken test audio: espeak-ng says a known sentence, PyAV re-encodes it, jiwer scores the result.

Everything stays in memory (espeak-ng writes its WAV to stdout). Needs the Debian package espeak-ng.
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess

import av
import jiwer

# Sentences whisper tiny.en and base transcribe well in espeak-ng's voice; espeak's French is
# harder for whisper-base than its English (see test_french_on_whisper_base).
ENGLISH = "Please call Stella and ask her to bring these things with her from the store."
# Three different sentences: the same one repeated trips whisper's compression-ratio check and
# re-decodes every window at rising temperatures, six times slower.
LONG_ENGLISH = (
    f"{ENGLISH} At the market we bought apples, carrots, potatoes and a large bag of rice. "
    "After lunch we went back home, cleaned the kitchen, and read the newspaper until the evening."
)
FRENCH = (
    "Merci beaucoup, je suis très content de vous voir. "
    "Je voudrais un café et un croissant, s'il vous plaît."
)
# FRENCH in English, the reference its translation is scored against.
FRENCH_IN_ENGLISH = (
    "Thank you very much, I am very happy to see you. I would like a coffee and a croissant, please."
)

# name: (PyAV container format, encoder, sample rate); Opus only takes 8 to 48 kHz rates.
FORMATS: dict[str, tuple[str, str, int]] = {
    "mp3": ("mp3", "libmp3lame", 22050),
    "ogg": ("ogg", "libopus", 48000),
    "flac": ("flac", "flac", 22050),
    "webm": ("webm", "libopus", 48000),
    "m4a": ("ipod", "aac", 22050),  # ffmpeg's name for the .m4a flavour of MP4
    "wav-f32-48k-stereo": ("wav", "pcm_f32le", 48000),  # a big WAV: 384 kB per second
}


def espeak_available() -> bool:
    return shutil.which("espeak-ng") is not None


def speak(text: str, voice: str = "en") -> bytes:
    """A WAV (22.05 kHz mono) of espeak-ng saying ``text``."""
    result = subprocess.run(["espeak-ng", "-v", voice, "--stdout", text], capture_output=True, check=True)
    return result.stdout


def seconds(audio: bytes) -> float:
    """How long ``audio`` plays, from its decoded samples (espeak-ng's WAV header has no length)."""
    with av.open(io.BytesIO(audio), mode="r") as source:
        stream = source.streams.audio[0]
        return sum(frame.samples for frame in source.decode(stream)) / stream.rate


def encode(wav: bytes, name: str) -> bytes:
    """``wav`` re-encoded as one of FORMATS; PyAV resamples and re-frames for the encoder."""
    container_format, codec, rate = FORMATS[name]
    layout = "stereo" if "stereo" in name else "mono"
    target = io.BytesIO()
    with (
        av.open(io.BytesIO(wav), mode="r") as source,
        av.open(target, mode="w", format=container_format) as sink,
    ):
        stream = sink.add_stream(codec, rate=rate, layout=layout)
        assert isinstance(stream, av.AudioStream)
        for frame in source.decode(audio=0):
            frame.pts = None  # let the encoder restamp at its own rate
            sink.mux(stream.encode(frame))
        sink.mux(stream.encode(None))
    return target.getvalue()


def normalize(text: str) -> str:
    """Lower case, apostrophes and punctuation to spaces: WER counts words, not typography."""
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower().replace("’", "'")).split())


def word_error_rate(reference: str, hypothesis: str) -> float:
    return float(jiwer.wer(normalize(reference), normalize(hypothesis)))
