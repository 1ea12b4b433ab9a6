"""multipart/form-data read into memory, within limits: an upload never touches the disk.

Starlette's `request.form()` spools every file part over 1 MB to a temporary file, whatever
`max_part_size` says (that bounds plain fields only). Audio is content, and content is never
stored, so the gateway and the transcription worker both read uploads with this instead:

    form = await read_form(request.headers, request.stream(), max_bytes=25 * 1024 * 1024)
    audio = form.files["file"].data

A refused body raises `FormError` (`FormTooLarge` past the limit); `llmaas.errors.upload_refused`
turns it into the platform's error.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, MultipartState, parse_options_header

MAX_FIELD_BYTES = 64 * 1024  # every field but a file is a short string
MAX_PARTS = 32
_FRAMING_BYTES = 1024 * 1024  # room in the body for the fields, part headers and boundaries


class FormError(ValueError):
    """A body that is not a well-formed form within the limits: the client's mistake (400)."""

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


class FormTooLarge(FormError):
    """A file over the limit (413)."""


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
        """The last value sent for a field, stripped; None when absent."""
        values = self.fields.get(name)
        return values[-1].strip() if values else None


class _Reader:
    """Collects parts while python-multipart calls back."""

    def __init__(self, boundary: bytes, max_bytes: int) -> None:
        self.form = Form()
        self.max_bytes = max_bytes
        self._parts = 0
        self._data = bytearray()
        self._headers: dict[bytes, bytes] = {}
        self._header_name = bytearray()
        self._header_value = bytearray()
        self._is_file = False
        self.parser = MultipartParser(
            boundary,
            {
                "on_part_begin": self._on_part_begin,
                "on_header_field": lambda data, start, end: self._header_name.extend(data[start:end]),
                "on_header_value": lambda data, start, end: self._header_value.extend(data[start:end]),
                "on_header_end": self._on_header_end,
                "on_headers_finished": self._on_headers_finished,
                "on_part_data": self._on_part_data,
                "on_part_end": self._on_part_end,
            },
        )

    def too_large(self) -> FormTooLarge:
        return FormTooLarge(f"The upload exceeds the limit of {self.max_bytes} bytes.", param="file")

    def _on_part_begin(self) -> None:
        self._parts += 1
        if self._parts > MAX_PARTS:
            raise FormError(f"A form may have at most {MAX_PARTS} fields.")
        self._data, self._headers = bytearray(), {}

    def _on_header_end(self) -> None:
        self._headers[bytes(self._header_name).strip().lower()] = bytes(self._header_value)
        self._header_name.clear()
        self._header_value.clear()

    def _on_headers_finished(self) -> None:
        _, self._disposition = parse_options_header(self._headers.get(b"content-disposition", b""))
        self._is_file = b"filename" in self._disposition

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        if len(self._data) + end - start > (self.max_bytes if self._is_file else MAX_FIELD_BYTES):
            if self._is_file:
                raise self.too_large()
            raise FormError(f"The field {self._name()!r} is too long.", param=self._name() or None)
        self._data.extend(data[start:end])

    def _on_part_end(self) -> None:
        name = self._name()
        if self._is_file:
            self.form.files[name] = FormFile(
                filename=self._disposition[b"filename"].decode("utf-8", "replace"),
                content_type=self._headers.get(b"content-type", b"").decode("latin-1"),
                data=bytes(self._data),
            )
        else:
            try:
                self.form.fields.setdefault(name, []).append(self._data.decode("utf-8"))
            except UnicodeDecodeError:
                raise FormError(f"The field {name!r} is not UTF-8.", param=name) from None

    def _name(self) -> str:
        return str(self._disposition.get(b"name", b"").decode("utf-8", "replace"))


async def read_form(
    headers: Mapping[str, str], stream: AsyncIterator[bytes], *, max_bytes: int
) -> Form:
    """The form's fields and files; `FormTooLarge` past `max_bytes` of file, `FormError` for anything
    malformed."""
    kind, options = parse_options_header(headers.get("content-type", ""))
    if kind != b"multipart/form-data" or b"boundary" not in options:
        raise FormError("The request body must be multipart/form-data.")
    reader = _Reader(options[b"boundary"], max_bytes)
    max_body = max_bytes + _FRAMING_BYTES
    declared = headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_body:
        raise reader.too_large()  # refused before a byte of the body is read
    received = 0
    try:
        async for chunk in stream:
            received += len(chunk)
            if received > max_body:
                raise reader.too_large()
            reader.parser.write(chunk)
    except FormParserError:
        raise FormError("The multipart body is malformed.") from None
    # python-multipart's finalize() does not check this: a body cut short never reached its end.
    if reader.parser.state != MultipartState.END:
        raise FormError("The multipart body is malformed or incomplete.")
    return reader.form
