"""Reading Yjs v1 updates without applying them: which clocks they start at, whether they are
well formed, and a digest of a document's delete set.

A v1 update is `varUint(#clients)`, then per client `varUint(#structs)`, `varUint(client)`,
`varUint(first clock)` and the structs; then the delete set: `varUint(#clients)`, per client
`varUint(client)`, `varUint(#ranges)` and `(clock, length)` pairs. Updates come from untrusted
clients and are walked before yrs sees them: every count is checked against the bytes that
remain (each counted thing takes at least one byte), so a few bytes cannot claim millions of
structs, and anything malformed raises `ProtocolError`.
"""

from __future__ import annotations

import hashlib
from typing import Any

from pycrdt import Doc

from collab.protocol import ProtocolError, Reader

_ANY_FIXED = {127: 0, 126: 0, 124: 4, 123: 8, 122: 8, 121: 0, 120: 0}  # undefined, null, float32, ...
MAX_NESTING = 64


def _count(reader: Reader, least_bytes_each: int = 1) -> int:
    """A count of things that follow, refused when the rest of the buffer cannot hold them."""
    count = reader.var_uint()
    if count * least_bytes_each > len(reader.data) - reader.pos:
        raise ProtocolError(f"an update claims {count} entries in {len(reader.data) - reader.pos} bytes")
    return count


def _skip_var_int(reader: Reader) -> None:
    for _ in range(10):
        if reader.pos >= len(reader.data):
            raise ProtocolError("truncated number")
        byte = reader.data[reader.pos]
        reader.pos += 1
        if byte < 0x80:
            return
    raise ProtocolError("number too long")


def _skip(reader: Reader, count: int) -> None:
    if reader.pos + count > len(reader.data):
        raise ProtocolError("truncated value")
    reader.pos += count


def _skip_any(reader: Reader, depth: int = 0) -> None:
    if depth > MAX_NESTING:
        raise ProtocolError("value nested too deeply")
    if reader.pos >= len(reader.data):
        raise ProtocolError("truncated value")
    kind = reader.data[reader.pos]
    reader.pos += 1
    if kind in _ANY_FIXED:
        _skip(reader, _ANY_FIXED[kind])
    elif kind == 125:  # integer
        _skip_var_int(reader)
    elif kind in (119, 116):  # string, binary
        reader.var_bytes()
    elif kind == 118:  # object
        for _ in range(_count(reader, 2)):
            reader.var_bytes()
            _skip_any(reader, depth + 1)
    elif kind == 117:  # array
        for _ in range(_count(reader)):
            _skip_any(reader, depth + 1)
    else:
        raise ProtocolError(f"unknown value type {kind}")


def _skip_item(reader: Reader, info: int) -> None:
    if info & 0x80:  # origin id
        reader.var_uint()
        reader.var_uint()
    if info & 0x40:  # right origin id
        reader.var_uint()
        reader.var_uint()
    if not info & 0xC0:  # no origins: the parent is named, and the map key if any
        if reader.var_uint() == 1:
            reader.var_bytes()
        else:
            reader.var_uint()
            reader.var_uint()
        if info & 0x20:
            reader.var_bytes()
    content = info & 0x1F
    if content == 1:  # deleted (a length in clock units)
        reader.var_uint()
    elif content == 2:  # JSON
        for _ in range(_count(reader)):
            reader.var_bytes()
    elif content in (3, 4, 5):  # binary, string, embed
        reader.var_bytes()
    elif content == 6:  # format
        reader.var_bytes()
        reader.var_bytes()
    elif content == 7:  # type
        if reader.var_uint() in (3, 5):
            reader.var_bytes()
    elif content == 8:  # any
        for _ in range(_count(reader)):
            _skip_any(reader)
    elif content == 9:  # subdocument
        reader.var_bytes()
        _skip_any(reader)
    else:
        raise ProtocolError(f"unknown content type {content}")


def _read_structs(reader: Reader) -> dict[int, int]:
    starts = {}
    for _ in range(_count(reader, 3)):
        structs = _count(reader)
        client = reader.var_uint()
        starts[client] = reader.var_uint()
        for _ in range(structs):
            if reader.pos >= len(reader.data):
                raise ProtocolError("truncated struct")
            info = reader.data[reader.pos]
            reader.pos += 1
            if info & 0x1F in (0, 10):  # GC or skip: just a length
                reader.var_uint()
            else:
                _skip_item(reader, info)
    return starts


def _read_delete_set(reader: Reader) -> list[tuple[int, int, int]]:
    ranges = []
    for _ in range(_count(reader, 2)):
        client = reader.var_uint()
        for _ in range(_count(reader, 2)):
            ranges.append((client, reader.var_uint(), reader.var_uint()))
    return ranges


def delete_spans(update: bytes) -> dict[int, list[tuple[int, int]]]:
    """The delete set of an update: client → sorted, merged [start, end) clock ranges."""
    reader = Reader(update)
    _read_structs(reader)
    spans: dict[int, list[tuple[int, int]]] = {}
    for client, clock, length in _read_delete_set(reader):
        spans.setdefault(client, []).append((clock, clock + length))
    merged: dict[int, list[tuple[int, int]]] = {}
    for client, ranges in spans.items():
        out: list[tuple[int, int]] = []
        for start, end in sorted(ranges):
            if out and start <= out[-1][1]:
                out[-1] = (out[-1][0], max(out[-1][1], end))
            else:
                out.append((start, end))
        merged[client] = out
    return merged


def update_starts(update: bytes) -> dict[int, int]:
    """client id → first clock of that client's structs; raises ProtocolError if malformed."""
    return _read_structs(Reader(update))


def check_update(update: bytes) -> None:
    """Walk the whole update (structs and delete set); raise ProtocolError if it is malformed."""
    reader = Reader(update)
    _read_structs(reader)
    _read_delete_set(reader)
    if not reader.done():
        raise ProtocolError("trailing bytes after the update")


def covers(sent: bytes, effective: bytes) -> bool:
    """Whether everything in `effective` (what applying `sent` changed) came from `sent`. Not so
    when `sent` completed structs the document held back for a missing predecessor: then the
    sender lacks part of the change and must be sent it too."""
    if sent == effective:
        return True
    try:
        sent_reader, effective_reader = Reader(sent), Reader(effective)
        sent_clients, effective_clients = set(_read_structs(sent_reader)), set(_read_structs(effective_reader))
        sent_deletes, effective_deletes = set(_read_delete_set(sent_reader)), set(_read_delete_set(effective_reader))
    except ProtocolError:
        return False
    return effective_clients <= sent_clients and effective_deletes <= sent_deletes


def has_gap(update: bytes, state: dict[int, int]) -> bool:
    """True when the update starts past what `state` has for some client: a predecessor is
    missing. Raises ProtocolError for an update it cannot read."""
    return any(clock > state.get(client, 0) for client, clock in update_starts(update).items())


def delete_set_digest(doc: Doc[Any]) -> bytes:
    """A digest of the delete set (which a state vector does not reflect), order-independent."""
    encoded = doc.get_update(doc.get_state())
    try:
        reader = Reader(encoded)
        if reader.var_uint() != 0:  # an update from the document's own state carries no structs
            return hashlib.sha1(encoded).digest()
        ranges = _read_delete_set(reader)
    except ProtocolError:
        return hashlib.sha1(encoded).digest()
    return hashlib.sha1(repr(sorted(ranges)).encode()).digest()
