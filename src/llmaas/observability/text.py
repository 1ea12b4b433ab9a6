"""Text a client chose, made safe to show wherever it is shown: a terminal, a log line, a database row.

Some characters are not text but instructions to whatever displays them: C0 and C1 controls and DEL
(terminal escapes, line breaks that forge a log line, NUL that PostgreSQL refuses), and the Unicode
bidirectional overrides and isolates that reorder a line as it is displayed.
"""

from __future__ import annotations

import re

# Escaped, so that both Python's re and pydantic's patterns (Rust's regex) read it: all of them but tab
# and line breaks, which a free text (a description) may hold.
_IN_TEXT = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069"
UNPRINTABLE = re.compile(rf"[\t\n\r{_IN_TEXT}]")
UNPRINTABLE_IN_TEXT = re.compile(f"[{_IN_TEXT}]")
PRINTABLE_TEXT = f"^[^{_IN_TEXT}]*$"  # a pattern for a query parameter: refused, not cleaned


def printable(text: str, limit: int) -> str:
    """`text` in at most `limit` characters (an ellipsis ends a cut one), each unprintable one shown as �."""
    if len(text) <= limit:
        return UNPRINTABLE.sub("\ufffd", text)
    return UNPRINTABLE.sub("\ufffd", text[:limit - 1]) + "…"
