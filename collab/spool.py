"""The spool: a local update is in a file of this process before anyone sees it.

A write to a file hands the bytes to the kernel, so they outlive the process (`kill -9`
included), though not the machine. A web process therefore writes every update its clients send
to its spool, shows it to its own clients at once, and journals it in Redis right after
(collab/journal.py: the journal is what other processes and a dead process's successors on other
machines read). Once the journal (or the store) holds every update of a spool segment, the
segment is deleted. A process that dies leaves its segments behind; the next process that opens
or sweeps on the same machine with the same spool directory stores what they hold.

Each segment is locked (`flock`) by the process writing it, and the kernel drops the lock when
that process dies: a segment whose lock can be taken belongs to nobody and is recovered. A
segment is created under a temporary name, locked, and only then given its `.log` name, so no
one mistakes a segment being born for an orphan.

A record is its length and CRC-32, then msgpack of (document id, author, update); a torn record
at the end of a segment (the machine stopped in the middle of a write) ends the reading.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import struct
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import msgspec

log = logging.getLogger(__name__)

_HEADER = struct.Struct("<II")  # body length, CRC-32 of the body
_RECORD = tuple[str, str | None, bytes]  # document id, author, update
_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(tuple[str, str | None, bytes]).decode


@dataclass
class _Segment:
    path: Path
    fd: int
    size: int = 0
    last: int = 0  # sequence number of the newest record written to it


@dataclass
class Orphan:
    """A dead process's segment, locked by us until `remove` or `keep`."""

    path: Path
    fd: int
    records: list[_RECORD]

    def remove(self) -> None:
        """Its records are stored: delete it."""
        self.path.unlink(missing_ok=True)
        os.close(self.fd)

    def keep(self) -> None:
        """Storing failed: leave it for a later sweep."""
        os.close(self.fd)


class Spool:
    """This process's spool segments in `directory` (see the module docstring)."""

    def __init__(self, directory: Path, *, segment_bytes: int = 1024 * 1024) -> None:
        self.directory = directory
        self.segment_bytes = segment_bytes
        self._name = uuid.uuid4().hex
        self._segments: list[_Segment] = []  # oldest first; the last one is written
        self._next = 0
        self._made = 0  # segments made, for their names
        self._failed = False

    def open(self) -> None:
        self._rotate()

    def write(self, doc_id: str, update: bytes, author: str | None) -> int | None:
        """Spool an update; its sequence number, or None if it could not be written (the caller
        then waits for the journal before showing it)."""
        body = _encode((doc_id, author, update))
        record = _HEADER.pack(len(body), zlib.crc32(body)) + body
        try:
            if self._segments[-1].size >= self.segment_bytes:
                self._rotate()
            segment = self._segments[-1]
            written = os.write(segment.fd, record)
        except OSError as err:
            if not self._failed:
                log.warning("spool_write_failed", extra={"error": repr(err), "directory": str(self.directory)})
            self._failed = True
            return None
        segment.size += written
        if written != len(record):  # a short write (disk full): this record does not count
            self._failed = True
            return None
        self._failed = False
        self._next += 1
        segment.last = self._next
        return self._next

    def release(self, upto: int) -> None:
        """Every update up to sequence number `upto` is journaled or stored: delete the full
        segments that hold nothing newer."""
        while len(self._segments) > 1 and self._segments[0].last <= upto:
            _remove(self._segments.pop(0))

    def close(self, *, remove: bool) -> None:
        """Let go of every segment; `remove`: everything in them is stored, delete them (and the
        directory, if no other process has segments in it)."""
        for segment in self._segments:
            if remove:
                _remove(segment)
            else:
                os.close(segment.fd)
        self._segments = []
        if remove:
            with contextlib.suppress(OSError):  # not empty: another process spools here
                self.directory.rmdir()

    def orphans(self) -> Iterator[Orphan]:
        """Segments of dead processes, each locked by us while the caller handles it."""
        ours = {segment.path for segment in self._segments}
        for path in sorted(self.directory.glob("spool-*.log")):
            if path in ours:
                continue
            try:
                fd = os.open(path, os.O_RDONLY)
            except FileNotFoundError:  # recovered by someone else meanwhile
                continue
            if not _try_lock(fd) or not _same_file(path, fd):
                os.close(fd)
                continue
            yield Orphan(path, fd, list(_records(fd)))

    def _rotate(self) -> None:
        """Start a new segment: created, locked, then named."""
        self._made += 1
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)  # another process may have removed it
        path = self.directory / f"spool-{self._name}-{self._made:06d}.log"
        born = path.with_suffix(".new")
        fd = os.open(born, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_EXCL, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.rename(born, path)
        self._segments.append(_Segment(path, fd, last=self._next))


def _remove(segment: _Segment) -> None:
    segment.path.unlink(missing_ok=True)
    os.close(segment.fd)


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _same_file(path: Path, fd: int) -> bool:
    """The file is still at `path` (not recovered and deleted while we waited for it)."""
    try:
        return path.stat().st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        return False


def _records(fd: int) -> Iterator[_RECORD]:
    with os.fdopen(os.dup(fd), "rb") as file:
        data = file.read()
    offset = 0
    while offset + _HEADER.size <= len(data):
        length, crc = _HEADER.unpack_from(data, offset)
        body = data[offset + _HEADER.size : offset + _HEADER.size + length]
        if len(body) < length or zlib.crc32(body) != crc:
            log.warning("spool_torn_record", extra={"offset": offset})
            return
        try:
            yield _decode(body)
        except msgspec.DecodeError:
            return
        offset += _HEADER.size + length
