"""Reading an upload's duration before forwarding it: admission reserves, and billing uses, that figure."""

from __future__ import annotations

import io
import math

import av

from llmaas.errors import InvalidRequest


def audio_duration(data: bytes, *, max_seconds: float = math.inf) -> float:
    """Seconds of audio, read from the container in memory (blocking: call from a thread). Longer than
    `max_seconds` is an InvalidRequest; a container that states no duration is decoded only that far."""
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            if container.duration is not None and container.duration > 0:
                seconds = float(container.duration / av.time_base)
            else:  # some containers (raw streams, some webm) carry no duration: count decoded samples
                stream = container.streams.audio[0]
                samples, limit = 0, max_seconds * stream.rate if stream.rate else math.inf
                for frame in container.decode(stream):
                    samples += frame.samples
                    if samples > limit:
                        break
                seconds = samples / stream.rate if stream.rate else 0.0
    except (av.error.FFmpegError, IndexError, ValueError):
        raise InvalidRequest(
            "The file is not audio in a supported format (wav, mp3, m4a, ogg, flac, webm).", param="file"
        ) from None
    if seconds > max_seconds:
        raise InvalidRequest(f"The audio lasts longer than the limit of {max_seconds:g} seconds.",
                             param="file")
    return seconds
