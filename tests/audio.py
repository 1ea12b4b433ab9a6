"""Audio made in memory for tests (a low `rate` keeps long clips small)."""

from __future__ import annotations

import io
import wave


def silent_wav(seconds: float, *, rate: int = 8000) -> bytes:
    """A mono 16-bit WAV of silence: real audio that any decoder reads, of an exact duration."""
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(b"\0\0" * int(rate * seconds))
    return out.getvalue()
