"""The in-memory form reader: fields, files, limits, and never a temporary file."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from llmaas.wire.multipart import FormError, FormTooLarge, read_form


def encode(data: dict[str, str], files: dict[str, tuple[str, bytes]]) -> tuple[str, bytes]:
    request = httpx.Request("POST", "http://x", data=data, files=files)
    return request.headers["content-type"], request.read()


async def chunks(body: bytes, size: int = 1000) -> AsyncIterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


def test_fields_and_a_large_file_stay_in_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    audio = bytes(range(256)) * 20_000  # 5 MB: Starlette would have spooled this to disk
    content_type, body = encode({"model": "m", "language": "fr"}, {"file": ("a.wav", audio)})
    form = asyncio.run(read_form({"content-type": content_type}, chunks(body, 65536), max_bytes=10_000_000))
    assert form.get("model") == "m" and form.get("language") == "fr"
    assert form.files["file"].data == audio and form.files["file"].filename == "a.wav"
    assert list(tmp_path.iterdir()) == []


def test_the_limit_counts_every_part() -> None:
    content_type, body = encode({"model": "m"}, {"file": ("a.wav", bytes(5000))})
    with pytest.raises(FormTooLarge):
        asyncio.run(read_form({"content-type": content_type}, chunks(body), max_bytes=4000))


def test_not_multipart_is_refused() -> None:
    with pytest.raises(FormError):
        asyncio.run(read_form({"content-type": "application/json"}, chunks(b"{}"), max_bytes=100))


def test_a_truncated_body_is_malformed() -> None:
    content_type, body = encode({"model": "m"}, {"file": ("a.wav", bytes(100))})
    with pytest.raises(FormError, match="incomplete"):
        asyncio.run(read_form({"content-type": content_type}, chunks(body[:-60]), max_bytes=10_000))


def test_a_declared_length_over_the_limit_is_refused_before_reading() -> None:
    async def never() -> AsyncIterator[bytes]:
        raise AssertionError("the body must not be read")
        yield b""

    headers = {"content-type": "multipart/form-data; boundary=x", "content-length": str(10**9)}
    with pytest.raises(FormTooLarge):
        asyncio.run(read_form(headers, never(), max_bytes=1000))


def test_long_fields_and_too_many_parts_are_refused() -> None:
    content_type, body = encode({"prompt": "x" * 70_000}, {"file": ("a.wav", b"abc")})
    with pytest.raises(FormError) as caught:
        asyncio.run(read_form({"content-type": content_type}, chunks(body), max_bytes=10**6))
    assert caught.value.param == "prompt"
    content_type, body = encode({f"f{i}": "v" for i in range(40)}, {"file": ("a.wav", b"abc")})
    with pytest.raises(FormError, match="at most"):
        asyncio.run(read_form({"content-type": content_type}, chunks(body), max_bytes=10**6))
