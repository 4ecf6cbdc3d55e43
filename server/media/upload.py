"""Receiving a multipart upload as it streams: the `file` part goes straight to a staged file
(hashed and counted on the way), small text fields are kept, and the size limit of the file's
kind — known from its first bytes — is enforced while the bytes arrive, never after the whole
body is in memory."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import anyio
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from server.media.probe import IMAGE, SNIFF_BYTES, Rejected, sniff
from server.media.storage import HashingWriter

FILE_FIELD = "file"
TEXT_FIELDS = frozenset({"workflow_id"})
MAX_FIELD_BYTES = 1024
FLUSH_BYTES = 1024 * 1024
BODY_OVERHEAD = 64 * 1024  # multipart headers and the small fields around the file


@dataclass(frozen=True)
class Limits:
    image_bytes: int
    video_bytes: int

    def for_kind(self, kind: str) -> int:
        return self.image_bytes if kind == IMAGE else self.video_bytes


@dataclass
class Received:
    """A completely received upload, staged at `path`."""

    path: Path
    filename: str
    sha256: str
    size: int
    kind: str
    content_type: str
    fields: dict[str, str] = field(default_factory=dict)


def boundary_of(content_type: str) -> bytes:
    media_type, options = parse_options_header(content_type)
    boundary = options.get(b"boundary", b"")
    if media_type != b"multipart/form-data" or not boundary:
        raise Rejected("Send the upload as multipart/form-data with the file in a field named 'file'.", 415)
    return boundary


def clean_filename(raw: str) -> str:
    """A file name safe to store and to send back in Content-Disposition."""
    name = re.split(r"[\\/]", raw)[-1]
    name = "".join(ch for ch in unicodedata.normalize("NFC", name) if unicodedata.category(ch)[0] != "C")
    return name.strip().strip(".")[:200] or "upload"


class _Reader:
    """Turns parser callbacks into the staged file and the text fields."""

    def __init__(self, staged: Path, limits: Limits) -> None:
        self.staged = staged
        self.limits = limits
        self.fields: dict[str, str] = {}
        self.filename = ""
        self.kind = ""
        self.content_type = ""
        self.writer: HashingWriter | None = None
        self.file_seen = False
        self.file_done = False
        self.pending = bytearray()  # bytes of the file part not yet written
        self.head = bytearray()  # the first bytes, until the kind is known
        self.received = 0
        self._headers: dict[bytes, bytes] = {}
        self._header_field = bytearray()
        self._header_value = bytearray()
        self._part: str | None = None
        self._text = bytearray()
        self.error: Rejected | None = None

    def callbacks(self) -> dict[str, Callable[..., None]]:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": lambda data, start, end: self._header_field.extend(data[start:end]),
            "on_header_value": lambda data, start, end: self._header_value.extend(data[start:end]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
        }

    def _fail(self, message: str, status: int = 400) -> None:
        if self.error is None:
            self.error = Rejected(message, status)

    def _part_begin(self) -> None:
        self._headers = {}
        self._part = None

    def _header_end(self) -> None:
        self._headers[bytes(self._header_field).lower()] = bytes(self._header_value)
        self._header_field.clear()
        self._header_value.clear()

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        name = options.get(b"name", b"").decode("utf-8", "replace")
        if name == FILE_FIELD:
            if self.file_seen:
                self._fail("Send one file per upload.")
            self.file_seen = True
            self.filename = clean_filename(options.get(b"filename", b"").decode("utf-8", "replace"))
        elif name not in TEXT_FIELDS:
            self._fail(f"Unknown form field {name!r}; send 'file' and, optionally, 'workflow_id'.")
        self._part = name
        self._text.clear()

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self.error is not None:
            return
        chunk = data[start:end]
        if self._part == FILE_FIELD:
            self.received += len(chunk)
            if not self.kind:
                self.head.extend(chunk[: SNIFF_BYTES - len(self.head)])
                if len(self.head) >= SNIFF_BYTES:
                    self._decide_kind()
            if self.kind and self.received > self.limits.for_kind(self.kind):
                limit = self.limits.for_kind(self.kind)
                self._fail(f"This {self.kind} is larger than the {_mib(limit)} limit for {self.kind}s.", 413)
                return
            self.pending.extend(chunk)
        elif self._part is not None:
            self._text.extend(chunk)
            if len(self._text) > MAX_FIELD_BYTES:
                self._fail(f"Form field {self._part!r} is too long.")

    def _decide_kind(self) -> None:
        try:
            self.kind, self.content_type = sniff(bytes(self.head))
        except Rejected as err:
            self.error = err

    def _part_end(self) -> None:
        if self.error is not None:
            return
        if self._part == FILE_FIELD:
            self.file_done = True
            if not self.kind and self.received == 0:
                self._fail("The file is empty; choose a file that has content.", 422)
            elif not self.kind:
                self._decide_kind()
                if self.error is None and self.received > self.limits.for_kind(self.kind):
                    self._fail(f"This {self.kind} is larger than the limit for {self.kind}s.", 413)
        elif self._part is not None:
            self.fields[self._part] = self._text.decode("utf-8", "replace").strip()
        self._part = None


def _mib(size: int) -> str:
    return f"{size / (1024 * 1024):g} MiB"


async def receive(stream: AsyncIterator[bytes], content_type: str, staged: Path, limits: Limits) -> Received:
    """Read the whole multipart body from `stream` into `staged` and the form fields.

    On a rejection the rest of the body is still read (and discarded, up to the largest body an
    upload may have) so the client hears the answer instead of a reset connection; the caller
    removes `staged`.
    """
    reader = _Reader(staged, limits)
    parser = MultipartParser(boundary_of(content_type), reader.callbacks())  # type: ignore[arg-type]
    writer = HashingWriter(staged)
    total, cap = 0, max(limits.image_bytes, limits.video_bytes) + BODY_OVERHEAD
    try:
        async for chunk in stream:
            total += len(chunk)
            if total > cap:
                raise reader.error or Rejected(f"An upload may be at most {_mib(cap - BODY_OVERHEAD)}.", 413)
            if reader.error is not None:
                continue  # drain
            try:
                parser.write(chunk)
            except MultipartParseError as err:
                reader.error = Rejected(f"The multipart body is malformed ({err}).", 400)
                continue
            if len(reader.pending) >= FLUSH_BYTES or (reader.file_done and reader.pending):
                data = bytes(reader.pending)
                reader.pending.clear()
                await anyio.to_thread.run_sync(writer.write, data)
        if reader.error is None:
            try:
                parser.finalize()
            except MultipartParseError as err:
                reader.error = Rejected(f"The multipart body is malformed ({err}).", 400)
        if reader.pending and reader.error is None:
            await anyio.to_thread.run_sync(writer.write, bytes(reader.pending))
    finally:
        writer.close()
    if reader.error is not None:
        raise reader.error
    if not reader.file_seen:
        raise Rejected("No file was sent: put it in a form field named 'file'.", 400)
    if not reader.file_done:
        raise Rejected("The upload ended before the file did; send it again.", 400)
    return Received(
        path=staged,
        filename=reader.filename,
        sha256=writer.digest.hexdigest(),
        size=writer.size,
        kind=reader.kind,
        content_type=reader.content_type,
        fields=reader.fields,
    )
