"""Reading an upload's duration before forwarding it: admission reserves, and billing uses, that figure."""

from __future__ import annotations

import io

import av

from llmaas.errors import InvalidRequest


def audio_duration(data: bytes) -> float:
    """Seconds of audio, read from the container in memory (blocking: call from a thread)."""
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            if container.duration is not None and container.duration > 0:
                return float(container.duration / av.time_base)
            # Some containers (raw streams, some webm) carry no duration: count decoded samples.
            stream = container.streams.audio[0]
            samples = sum(frame.samples for frame in container.decode(stream))
            return samples / stream.rate if stream.rate else 0.0
    except (av.error.FFmpegError, IndexError, ValueError):
        raise InvalidRequest(
            "The file is not audio in a supported format (wav, mp3, m4a, ogg, flac, webm).", param="file"
        ) from None
