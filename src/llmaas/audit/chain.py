"""The hash chain: each row's hash is sha256 of the previous row's hash and the row's own canonical
content, so changing any field of a row, or deleting one, breaks every link from there on.

    digest = link(previous_hash, canonical(seq=1, created_at=now, actor="cli:ops", ...))
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

GENESIS = "0" * 64  # what the first row chains to


def instant(moment: datetime) -> str:
    """A moment as the chain hashes it: UTC, to the microsecond. SQLite hands back naive datetimes
    (stored as UTC), PostgreSQL aware ones: both give the same text."""
    aware = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return aware.isoformat(timespec="microseconds")


def canonical(
    *, seq: int, created_at: datetime, actor: str, action: str, target_type: str, target: str, source: str,
    outcome: str, error_code: str | None, details: dict[str, Any],
) -> bytes:
    """Every column but the hashes, as JSON with sorted keys and no whitespace: one text per row."""
    content = {
        "seq": seq, "created_at": instant(created_at), "actor": actor, "action": action,
        "target_type": target_type, "target": target, "source": source, "outcome": outcome,
        "error_code": error_code, "details": details,
    }
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def link(previous_hash: str, content: bytes) -> str:
    return hashlib.sha256(previous_hash.encode() + content).hexdigest()
