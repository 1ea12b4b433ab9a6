"""OpenAI's duration strings, as in its `x-ratelimit-reset-*` headers and its rate-limit messages:
"12ms", "1.5s", "6m0s", "2h5m0.25s".

    duration(0.012) == "12ms"; duration(1.5) == "1.5s"; duration(360) == "6m0s"
"""

from __future__ import annotations


def duration(seconds: float) -> str:
    """Under a second in whole milliseconds; else hours and minutes when there are any, then the
    seconds to the millisecond, without trailing zeros."""
    if seconds < 1:
        return f"{max(0, round(seconds * 1000))}ms"
    minutes, rest = divmod(seconds, 60)
    hours, minutes = divmod(int(minutes), 60)
    text = f"{rest:.3f}".rstrip("0").rstrip(".") + "s"
    if hours:
        return f"{hours}h{minutes}m{text}"
    return f"{minutes}m{text}" if minutes else text
