"""A transcript and the five shapes OpenAI renders it in: json, text, srt, vtt and verbose_json.

Pure functions over plain dataclasses, with no HTTP and no model import, so the gateway can reuse
them. ``Transcript.text`` is content: render it, never log it.

    >>> t = Transcript("en", 1.2, (Segment(0, 0, 0.0, 1.2, " Hi there.", (), 0.0, -0.2, 0.8, 0.01),))
    >>> render_srt(t)
    '1\\n00:00:00,000 --> 00:00:01,200\\nHi there.\\n\\n'
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from llmaas.wire.requests import TranscriptionFormat

ResponseFormat = TranscriptionFormat  # the one list, shared with the gateway
Task = Literal["transcribe", "translate"]  # Whisper's tasks: the spoken language's text, or English
RESPONSE_FORMATS: tuple[ResponseFormat, ...] = get_args(ResponseFormat)

# Whisper's language codes and the lower-case names OpenAI reports in verbose_json.
LANGUAGE_NAMES: dict[str, str] = {
    "en": "english", "zh": "chinese", "de": "german", "es": "spanish", "ru": "russian",
    "ko": "korean", "fr": "french", "ja": "japanese", "pt": "portuguese", "tr": "turkish",
    "pl": "polish", "ca": "catalan", "nl": "dutch", "ar": "arabic", "sv": "swedish",
    "it": "italian", "id": "indonesian", "hi": "hindi", "fi": "finnish", "vi": "vietnamese",
    "he": "hebrew", "uk": "ukrainian", "el": "greek", "ms": "malay", "cs": "czech",
    "ro": "romanian", "da": "danish", "hu": "hungarian", "ta": "tamil", "no": "norwegian",
    "th": "thai", "ur": "urdu", "hr": "croatian", "bg": "bulgarian", "lt": "lithuanian",
    "la": "latin", "mi": "maori", "ml": "malayalam", "cy": "welsh", "sk": "slovak",
    "te": "telugu", "fa": "persian", "lv": "latvian", "bn": "bengali", "sr": "serbian",
    "az": "azerbaijani", "sl": "slovenian", "kn": "kannada", "et": "estonian", "mk": "macedonian",
    "br": "breton", "eu": "basque", "is": "icelandic", "hy": "armenian", "ne": "nepali",
    "mn": "mongolian", "bs": "bosnian", "kk": "kazakh", "sq": "albanian", "sw": "swahili",
    "gl": "galician", "mr": "marathi", "pa": "punjabi", "si": "sinhala", "km": "khmer",
    "sn": "shona", "yo": "yoruba", "so": "somali", "af": "afrikaans", "oc": "occitan",
    "ka": "georgian", "be": "belarusian", "tg": "tajik", "sd": "sindhi", "gu": "gujarati",
    "am": "amharic", "yi": "yiddish", "lo": "lao", "uz": "uzbek", "fo": "faroese",
    "ht": "haitian creole", "ps": "pashto", "tk": "turkmen", "nn": "nynorsk", "mt": "maltese",
    "sa": "sanskrit", "lb": "luxembourgish", "my": "myanmar", "bo": "tibetan", "tl": "tagalog",
    "mg": "malagasy", "as": "assamese", "tt": "tatar", "haw": "hawaiian", "ln": "lingala",
    "ha": "hausa", "ba": "bashkir", "jw": "javanese", "su": "sundanese", "yue": "cantonese",
}  # fmt: skip


@dataclass(frozen=True)
class Word:
    word: str
    start: float
    end: float


@dataclass(frozen=True)
class Segment:
    id: int
    seek: int
    start: float
    end: float
    text: str
    tokens: tuple[int, ...]
    temperature: float
    avg_logprob: float
    compression_ratio: float
    no_speech_prob: float


@dataclass(frozen=True)
class Transcript:
    language: str
    """Whisper's code for the spoken language, as given or detected: ``en``, ``fr``…"""
    duration: float
    """Seconds of decoded audio, what usage is billed on."""
    segments: tuple[Segment, ...]
    words: tuple[Word, ...] = field(default=())
    task: Task = "transcribe"

    @property
    def text(self) -> str:
        # Whisper's segment texts carry their own leading spaces; OpenAI trims the whole.
        return "".join(segment.text for segment in self.segments).strip()


def usage(duration: float) -> dict[str, Any]:
    """OpenAI bills audio in whole seconds, rounded up."""
    return {"type": "duration", "seconds": math.ceil(duration)}


def render_json(transcript: Transcript) -> dict[str, Any]:
    return {"text": transcript.text, "usage": usage(transcript.duration)}


def render_text(transcript: Transcript) -> str:
    return transcript.text + "\n"


def render_verbose_json(
    transcript: Transcript, *, segments: bool = True, words: bool = False
) -> dict[str, Any]:
    """OpenAI's verbose_json; ``segments`` and ``words`` follow ``timestamp_granularities[]``."""
    body: dict[str, Any] = {
        "task": transcript.task,
        # A translation's language is its output's, always English (OpenAI's TranslationVerbose).
        "language": "english" if transcript.task == "translate"
        else LANGUAGE_NAMES.get(transcript.language, transcript.language),
        "duration": round(transcript.duration, 3),
        "text": transcript.text,
    }
    if segments:
        body["segments"] = [_segment_json(segment) for segment in transcript.segments]
    if words:
        body["words"] = [
            {"word": word.word, "start": round(word.start, 2), "end": round(word.end, 2)}
            for word in transcript.words
        ]
    body["usage"] = usage(transcript.duration)
    return body


def _segment_json(segment: Segment) -> dict[str, Any]:
    return {
        "id": segment.id,
        "seek": segment.seek,
        "start": round(segment.start, 2),
        "end": round(segment.end, 2),
        "text": segment.text,
        "tokens": list(segment.tokens),
        "temperature": segment.temperature,
        "avg_logprob": segment.avg_logprob,
        "compression_ratio": segment.compression_ratio,
        "no_speech_prob": segment.no_speech_prob,
    }


def render_srt(transcript: Transcript) -> str:
    cues = (
        f"{number}\n{format_timestamp(s.start, ',')} --> {format_timestamp(s.end, ',')}\n"
        f"{s.text.strip()}\n\n"
        for number, s in enumerate(transcript.segments, start=1)
    )
    return "".join(cues)


def render_vtt(transcript: Transcript) -> str:
    cues = (
        f"{format_timestamp(s.start, '.')} --> {format_timestamp(s.end, '.')}\n{s.text.strip()}\n\n"
        for s in transcript.segments
    )
    return "WEBVTT\n\n" + "".join(cues)


def format_timestamp(seconds: float, decimal_marker: Literal[",", "."]) -> str:
    """``HH:MM:SS,mmm`` for SubRip, ``HH:MM:SS.mmm`` for WebVTT; hours grow past 99 if need be."""
    milliseconds = max(0, round(seconds * 1000))
    hours, milliseconds = divmod(milliseconds, 3_600_000)
    minutes, milliseconds = divmod(milliseconds, 60_000)
    whole, milliseconds = divmod(milliseconds, 1000)
    return f"{hours:02d}:{minutes:02d}:{whole:02d}{decimal_marker}{milliseconds:03d}"


def render(
    transcript: Transcript, response_format: ResponseFormat, *, segments: bool, words: bool
) -> str | dict[str, Any]:
    """The body for ``response_format``: a dict for the JSON formats, a string otherwise."""
    match response_format:
        case "json":
            return render_json(transcript)
        case "verbose_json":
            return render_verbose_json(transcript, segments=segments, words=words)
        case "text":
            return render_text(transcript)
        case "srt":
            return render_srt(transcript)
        case "vtt":
            return render_vtt(transcript)
