"""The speech-to-text worker: OpenAI's ``/v1/audio/transcriptions`` and ``/v1/audio/translations``
(speech in any language the model knows, as English text) on faster-whisper, CPU, int8.

    python -m llmaas.engines.workers.transcription --model-dir DIR --model-id ID --port PORT --threads N

DIR is a CTranslate2 Whisper directory (config.json, model.bin, tokenizer.json, vocabulary.*). The
upload is parsed and decoded in memory only, never written to disk; audio and transcripts are never
logged. One transcription runs at a time, in a thread, so ``/health`` answers while it works.
"""

from __future__ import annotations

import io
import logging
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import anyio.to_thread
import av.error
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from llmaas.engines.workers.common import (
    JSONResponse,
    WorkerError,
    handle_worker_error,
    parse_options,
    serve,
)
from llmaas.engines.workers.transcripts import (
    LANGUAGE_NAMES,
    RESPONSE_FORMATS,
    ResponseFormat,
    Segment,
    Task,
    Transcript,
    Word,
    render,
)
from llmaas.errors import LlmaasError
from llmaas.wire.multipart import Form, FormError, read_form

if TYPE_CHECKING:
    from faster_whisper import WhisperModel

__all__ = ["Transcriber", "TranscriptionRequest", "create_app", "main", "parse_request"]

logger = logging.getLogger(__name__)

MAX_UPLOAD_BYTES = 25 * 1024 * 1024  # OpenAI's limit on the audio file
SAMPLE_RATE = 16_000
MIN_AUDIO_SECONDS = 0.1
# Measured on 2 CPU cores with 32 s of espeak-ng speech: beam 5 halves tiny.en's word error rate
# (0.17 -> 0.09) for 20-60 % more time, at a real-time factor still under 0.15. Silero VAD saved
# nothing on continuous speech and, across a 20 s pause, dropped the sentences either side of the
# seam where it joins the speech, so it stays off.
BEAM_SIZE = 5
VAD_FILTER = False
FALLBACK_STEP = 0.2  # Whisper's temperature increment when a decode looks like a hallucination
# OpenAI's translation requests have neither field: the target language is English, and the
# schema has no timestamp_granularities. Refused, as OpenAI refuses a field it does not know.
NOT_FOR_TRANSLATION = ("language", "timestamp_granularities[]", "timestamp_granularities")


@dataclass(frozen=True)
class TranscriptionRequest:
    audio: bytes
    language: str | None
    prompt: str | None
    temperature: float
    response_format: ResponseFormat
    segments: bool
    words: bool
    task: Task = "transcribe"

    @property
    def temperatures(self) -> tuple[float, ...]:
        """Start at the asked temperature and fall back upwards, as OpenAI describes for 0."""
        steps = round((1.0 - self.temperature) / FALLBACK_STEP)
        return tuple(round(self.temperature + i * FALLBACK_STEP, 2) for i in range(steps + 1))


def parse_request(
    form: Form, *, languages: frozenset[str], task: Task = "transcribe"
) -> TranscriptionRequest:
    """Check the form as OpenAI does; ``languages`` are the codes the loaded model knows."""
    text = form.get
    upload = form.files.get("file")
    if upload is None:
        raise WorkerError("A file is required: send the audio as the 'file' form field.", param="file")
    if task == "translate":
        if languages <= {"en"}:  # an English-only model (tiny.en) knows no other language
            raise WorkerError("This model is English-only: it cannot translate.", param="model",
                              code="model_not_supported")
        for name in NOT_FOR_TRANSLATION:
            if name in form.fields:
                raise WorkerError(f"Unrecognized request argument supplied: {name}", param=name)

    response_format = text("response_format") or "json"
    if response_format not in RESPONSE_FORMATS:
        raise WorkerError(
            f"response_format must be one of {', '.join(RESPONSE_FORMATS)}.", param="response_format"
        )

    language = (text("language") or "").lower() or None
    if language is not None and language not in languages:
        if language in LANGUAGE_NAMES:
            message = f"This model is English-only; it cannot transcribe {language!r}."
        else:
            message = f"Unsupported language {language!r}: use an ISO-639-1 code such as 'en'."
        raise WorkerError(message, param="language")

    temperature = _temperature(text("temperature"))

    granularities = [
        value.strip()
        for name in ("timestamp_granularities[]", "timestamp_granularities")
        for value in form.fields.get(name, [])
    ]
    if any(value not in ("segment", "word") for value in granularities):
        raise WorkerError(
            "timestamp_granularities[] takes 'segment' and 'word'.", param="timestamp_granularities[]"
        )
    if granularities and response_format != "verbose_json":
        raise WorkerError(
            "timestamp_granularities[] needs response_format 'verbose_json'.",
            param="timestamp_granularities[]",
        )
    if (text("stream") or "false").lower() not in ("false", "0"):
        raise WorkerError("Streaming is not supported for this model.", param="stream")

    return TranscriptionRequest(
        audio=upload.data,
        language=language,
        prompt=text("prompt") or None,
        temperature=temperature,
        response_format=response_format,
        segments=not granularities or "segment" in granularities,
        words="word" in granularities,
        task=task,
    )


def _temperature(value: str | None) -> float:
    if value is None or value == "":
        return 0.0
    try:
        temperature = float(value)
    except ValueError:
        temperature = -1.0
    if not 0.0 <= temperature <= 1.0:  # also refuses nan
        raise WorkerError("temperature must be a number from 0 to 1.", param="temperature")
    return temperature


class Transcriber:
    """A loaded Whisper model; ``transcribe`` blocks, so callers run it in a thread."""

    def __init__(self, model_dir: Path, threads: int) -> None:
        if not (model_dir / "model.bin").is_file():
            # WhisperModel would take a missing path for a hub name and try to download it.
            raise FileNotFoundError(f"no CTranslate2 Whisper model (model.bin) in {model_dir}")
        # Imported here, not at the top: faster_whisper pulls in huggingface_hub, which reads
        # HF_HUB_OFFLINE once at import, after main() has set it.
        from faster_whisper import WhisperModel

        self.model: WhisperModel = WhisperModel(
            str(model_dir), device="cpu", compute_type="int8", cpu_threads=threads, num_workers=1
        )
        self.languages = frozenset(self.model.supported_languages)

    def transcribe(self, request: TranscriptionRequest) -> Transcript:
        from faster_whisper import decode_audio

        try:
            audio = decode_audio(io.BytesIO(request.audio), sampling_rate=SAMPLE_RATE)
        except (av.error.FFmpegError, IndexError, ValueError):
            # IndexError: a readable container with no audio stream in it (an image, a text file).
            raise WorkerError(
                "Invalid file format. Supported formats: "
                "['flac', 'm4a', 'mp3', 'mp4', 'mpeg', 'mpga', 'oga', 'ogg', 'wav', 'webm']",
                param="file",
            ) from None
        if len(audio) < MIN_AUDIO_SECONDS * SAMPLE_RATE:
            raise WorkerError(
                f"Audio file is too short. Minimum audio length is {MIN_AUDIO_SECONDS} seconds.",
                param="file",
                code="audio_too_short",
            )
        started = time.perf_counter()
        segments, info = self.model.transcribe(
            audio,
            language=request.language,
            task=request.task,
            initial_prompt=request.prompt,
            temperature=request.temperatures,
            beam_size=BEAM_SIZE,
            vad_filter=VAD_FILTER,
            word_timestamps=request.words,
        )
        # The segments are a lazy generator: the decoding happens here, while it is consumed.
        decoded = [
            (
                Segment(
                    id=number,  # faster-whisper counts from 1, OpenAI from 0
                    seek=s.seek,
                    start=s.start,
                    end=s.end,
                    text=s.text,
                    tokens=tuple(s.tokens),
                    temperature=s.temperature or 0.0,
                    avg_logprob=s.avg_logprob,
                    compression_ratio=s.compression_ratio,
                    no_speech_prob=s.no_speech_prob,
                ),
                [Word(w.word.strip(), w.start, w.end) for w in s.words or ()],
            )
            for number, s in enumerate(segments)
        ]
        elapsed = time.perf_counter() - started
        logger.info(
            "transcribed %.1f s of audio in %.2f s (real-time factor %.3f)",
            info.duration,
            elapsed,
            elapsed / max(info.duration, MIN_AUDIO_SECONDS),
        )
        return Transcript(
            language=info.language,
            duration=info.duration,
            segments=tuple(segment for segment, _ in decoded),
            words=tuple(word for _, words in decoded for word in words),
            task=request.task,
        )


class TranscriptionWorker:
    """The HTTP face: routes, and the model built in the lifespan."""

    def __init__(self, model_dir: Path, model_id: str, threads: int) -> None:
        self.model_dir = model_dir
        self.model_id = model_id
        self.threads = threads
        self.created = int(time.time())
        self._transcriber: Transcriber | None = None
        # Two cores do not transcribe two requests faster than one after the other.
        self._limiter = anyio.CapacityLimiter(1)

    @asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        self._transcriber = await anyio.to_thread.run_sync(
            Transcriber, self.model_dir, self.threads
        )
        logger.info("loaded %s from %s", self.model_id, self.model_dir)
        yield
        self._transcriber = None

    @property
    def transcriber(self) -> Transcriber:
        if self._transcriber is None:
            raise WorkerError("The model is still loading.", status_code=503, type="server_error")
        return self._transcriber

    async def health(self, request: Request) -> Response:
        if self._transcriber is None:
            return JSONResponse({"status": "loading"}, status_code=503)
        return JSONResponse({"status": "ok"})

    async def models(self, request: Request) -> Response:
        model = {"id": self.model_id, "object": "model", "created": self.created, "owned_by": "llmaas"}
        return JSONResponse({"object": "list", "data": [model]})

    async def transcriptions(self, request: Request) -> Response:
        return await self._answer(request, "transcribe")

    async def translations(self, request: Request) -> Response:
        return await self._answer(request, "translate")

    async def _answer(self, request: Request, task: Task) -> Response:
        transcriber = self.transcriber
        form = await read_form(request.headers, request.stream(), max_bytes=MAX_UPLOAD_BYTES)
        parsed = parse_request(form, languages=transcriber.languages, task=task)
        transcript = await anyio.to_thread.run_sync(
            transcriber.transcribe, parsed, limiter=self._limiter
        )
        body = render(
            transcript, parsed.response_format, segments=parsed.segments, words=parsed.words
        )
        if isinstance(body, str):
            return PlainTextResponse(body)
        return JSONResponse(body)


async def handle_unexpected_error(request: Request, exc: Exception) -> Response:
    # The one catch-all: name the failure, never its content.
    logger.error("transcription worker failed: %s", type(exc).__name__)
    error = WorkerError(
        "The server had an error processing the request.", status_code=500, type="server_error"
    )
    return await handle_worker_error(request, error)


def create_app(model_dir: Path, model_id: str, threads: int = 1) -> Starlette:
    """The worker's ASGI app; the model loads in the lifespan, so use it as a context manager.

        with TestClient(create_app(Path("whisper-tiny.en-ct2"), "whisper-tiny.en")) as client:
            client.post("/v1/audio/transcriptions", files={"file": open("hello.wav", "rb")})
    """
    worker = TranscriptionWorker(model_dir, model_id, threads)
    return Starlette(
        routes=[
            Route("/health", worker.health, methods=["GET"]),
            Route("/v1/models", worker.models, methods=["GET"]),
            Route("/v1/audio/transcriptions", worker.transcriptions, methods=["POST"]),
            Route("/v1/audio/translations", worker.translations, methods=["POST"]),
        ],
        exception_handlers={
            WorkerError: handle_worker_error,
            LlmaasError: handle_worker_error,
            FormError: handle_worker_error,
            Exception: handle_unexpected_error,
        },
        lifespan=worker.lifespan,
    )


def main(argv: list[str] | None = None) -> None:
    options = parse_options(argv, description="OpenAI-compatible speech-to-text on faster-whisper")
    # Models load from a local directory only; this makes any hub access fail instead of download.
    os.environ["HF_HUB_OFFLINE"] = "1"
    serve(create_app(options.model_dir, options.model_id, options.threads), options)


if __name__ == "__main__":
    main()

