"""An in-memory multipart/form-data reader for uploads that must never touch the disk.

Starlette's form parser spools files over 1 MB to a temporary file; audio is content, and content
is never written anywhere. This reader keeps every part in memory, under a size limit.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from python_multipart.multipart import MultipartParser, parse_options_header

from llmaas.errors import InvalidRequest, PayloadTooLarge


@dataclass
class FormFile:
    filename: str
    content_type: str
    data: bytes


@dataclass
class Form:
    fields: dict[str, list[str]] = field(default_factory=dict)
    files: dict[str, FormFile] = field(default_factory=dict)

    def get(self, name: str) -> str | None:
        values = self.fields.get(name)
        return values[-1] if values else None


@dataclass
class _Part:
    headers: dict[bytes, bytes] = field(default_factory=dict)
    chunks: list[bytes] = field(default_factory=list)
    size: int = 0


async def read_form(content_type: str, stream: AsyncIterator[bytes], *, max_bytes: int) -> Form:
    kind, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise InvalidRequest("Send the upload as multipart/form-data.", param="file")

    form = Form()
    part = _Part()
    header_name = bytearray()
    header_value = bytearray()
    total = 0

    def on_part_data(data: bytes, start: int, end: int) -> None:
        nonlocal total
        total += end - start
        if total > max_bytes:
            raise PayloadTooLarge(f"The upload exceeds the limit of {max_bytes} bytes.", param="file")
        part.chunks.append(data[start:end])

    def on_header_field(data: bytes, start: int, end: int) -> None:
        header_name.extend(data[start:end])

    def on_header_value(data: bytes, start: int, end: int) -> None:
        header_value.extend(data[start:end])

    def on_header_end() -> None:
        part.headers[bytes(header_name).lower()] = bytes(header_value)
        header_name.clear()
        header_value.clear()

    def on_part_end() -> None:
        nonlocal part
        _, disposition = parse_options_header(part.headers.get(b"content-disposition", b""))
        name = disposition.get(b"name", b"").decode("utf-8", "replace")
        body = b"".join(part.chunks)
        if b"filename" in disposition:
            form.files[name] = FormFile(
                filename=disposition[b"filename"].decode("utf-8", "replace"),
                content_type=part.headers.get(b"content-type", b"").decode("latin-1"),
                data=body,
            )
        else:
            form.fields.setdefault(name, []).append(body.decode("utf-8", "replace"))
        part = _Part()

    parser = MultipartParser(
        boundary,
        {
            "on_part_data": on_part_data,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_part_end": on_part_end,
        },
    )
    try:
        async for chunk in stream:
            parser.write(chunk)
        parser.finalize()
    except (PayloadTooLarge, InvalidRequest):
        raise
    except Exception:  # python-multipart raises its own error types for malformed bodies
        raise InvalidRequest("The multipart body is malformed.") from None
    return form
