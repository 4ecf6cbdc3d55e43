"""The y-websocket wire protocol: pure bytes in, typed messages out, and back.

A frame is `varUint(messageType)` followed by the payload:
  0 sync       varUint(subtype) + varUint8Array  (0 step1: state vector, 1 step2 / 2 update: update)
  1 awareness  varUint8Array(awareness update)
  2 auth       varUint(0 = permission denied) + varString(reason)
  3 query-awareness (no payload)
Frames come from untrusted clients, so every length is checked against what is really there and
anything malformed raises `ProtocolError`; nothing here can raise anything else.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

MAX_VARUINT_BYTES = 8  # 56 bits: more than any length or clock a sane peer sends


class ProtocolError(Exception):
    """A frame that does not follow the protocol; the message says what is wrong."""


class MessageType(IntEnum):
    SYNC = 0
    AWARENESS = 1
    AUTH = 2
    QUERY_AWARENESS = 3


class SyncType(IntEnum):
    STEP1 = 0
    STEP2 = 1
    UPDATE = 2


@dataclass(frozen=True, slots=True)
class SyncStep1:
    state_vector: bytes


@dataclass(frozen=True, slots=True)
class SyncStep2:
    update: bytes


@dataclass(frozen=True, slots=True)
class SyncUpdate:
    update: bytes


@dataclass(frozen=True, slots=True)
class AwarenessMessage:
    payload: bytes


@dataclass(frozen=True, slots=True)
class QueryAwareness:
    pass


@dataclass(frozen=True, slots=True)
class AuthMessage:
    reason: str


Message = SyncStep1 | SyncStep2 | SyncUpdate | AwarenessMessage | QueryAwareness | AuthMessage


class Reader:
    """Bounds-checked lib0 decoding over one buffer."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def var_uint(self) -> int:
        value = 0
        for index in range(MAX_VARUINT_BYTES):
            if self.pos >= len(self.data):
                raise ProtocolError("truncated number")
            byte = self.data[self.pos]
            self.pos += 1
            value |= (byte & 0x7F) << (7 * index)
            if byte < 0x80:
                return value
        raise ProtocolError("number too long")

    def var_bytes(self) -> bytes:
        length = self.var_uint()
        end = self.pos + length
        if end > len(self.data):
            raise ProtocolError(f"declared length {length} exceeds the {len(self.data) - self.pos} bytes left")
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk

    def var_string(self) -> str:
        try:
            return self.var_bytes().decode("utf-8")
        except UnicodeDecodeError:
            raise ProtocolError("string is not UTF-8") from None

    def done(self) -> bool:
        return self.pos == len(self.data)


def var_uint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def var_bytes(data: bytes) -> bytes:
    return var_uint(len(data)) + data


def decode(frame: bytes) -> Message:
    """Parse one frame from a client; raise ProtocolError when it is malformed."""
    reader = Reader(frame)
    kind = reader.var_uint()
    message: Message
    if kind == MessageType.SYNC:
        subtype = reader.var_uint()
        body = reader.var_bytes()
        if subtype == SyncType.STEP1:
            message = SyncStep1(body)
        elif subtype == SyncType.STEP2:
            message = SyncStep2(body)
        elif subtype == SyncType.UPDATE:
            message = SyncUpdate(body)
        else:
            raise ProtocolError(f"unknown sync message type {subtype}")
    elif kind == MessageType.AWARENESS:
        message = AwarenessMessage(reader.var_bytes())
    elif kind == MessageType.QUERY_AWARENESS:
        message = QueryAwareness()
    elif kind == MessageType.AUTH:
        reader.var_uint()
        message = AuthMessage(reader.var_string())
    else:
        raise ProtocolError(f"unknown message type {kind}")
    if not reader.done():
        raise ProtocolError("trailing bytes after the message")
    return message


def sync_step1(state_vector: bytes) -> bytes:
    return bytes((MessageType.SYNC, SyncType.STEP1)) + var_bytes(state_vector)


def sync_step2(update: bytes) -> bytes:
    return bytes((MessageType.SYNC, SyncType.STEP2)) + var_bytes(update)


def sync_update(update: bytes) -> bytes:
    return bytes((MessageType.SYNC, SyncType.UPDATE)) + var_bytes(update)


def awareness(payload: bytes) -> bytes:
    return bytes((MessageType.AWARENESS,)) + var_bytes(payload)


def permission_denied(reason: str) -> bytes:
    return bytes((MessageType.AUTH, 0)) + var_bytes(reason.encode())


def query_awareness() -> bytes:
    return bytes((MessageType.QUERY_AWARENESS,))


# --- awareness payloads ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AwarenessEntry:
    client_id: int
    clock: int
    state: dict[str, Any] | None  # None: the client is gone


MAX_SAFE_INTEGER = 2**53 - 1  # larger client ids lose precision in a browser's numbers


def decode_awareness(payload: bytes, *, max_state_bytes: int = 64 * 1024) -> list[AwarenessEntry]:
    """The entries of an awareness update. Entries a browser could not read (NaN or Infinity in
    the state, a client id past 2**53) are left out rather than passed on: one of them would
    break presence for every browser on the document."""
    reader = Reader(payload)
    count = reader.var_uint()
    if count > 10_000:
        raise ProtocolError(f"awareness update claims {count} clients")
    entries = []
    for _ in range(count):
        client_id = reader.var_uint()
        clock = reader.var_uint()
        raw = reader.var_bytes()
        if len(raw) > max_state_bytes:
            raise ProtocolError("awareness state too large")
        constants: list[str] = []  # NaN, Infinity: Python reads them, browsers' JSON.parse does not
        try:
            state = json.loads(raw, parse_constant=constants.append)
        except (ValueError, RecursionError):
            raise ProtocolError("awareness state is not JSON") from None
        if state is not None and not isinstance(state, dict):
            raise ProtocolError("awareness state must be an object or null")
        if client_id > MAX_SAFE_INTEGER or constants:
            continue
        entries.append(AwarenessEntry(client_id, clock, state))
    if not reader.done():
        raise ProtocolError("trailing bytes after the awareness update")
    return entries


def encode_awareness(entries: list[AwarenessEntry]) -> bytes:
    parts = [var_uint(len(entries))]
    for entry in entries:
        state = json.dumps(entry.state, separators=(",", ":")).encode()
        parts += [var_uint(entry.client_id), var_uint(entry.clock), var_bytes(state)]
    return b"".join(parts)


# --- state vectors -----------------------------------------------------------------------


def decode_state_vector(data: bytes) -> dict[int, int]:
    """client id → clock, from Yjs' v1 state-vector encoding."""
    reader = Reader(data)
    count = reader.var_uint()
    vector = {}
    for _ in range(count):
        client = reader.var_uint()
        vector[client] = reader.var_uint()
    if not reader.done():
        raise ProtocolError("trailing bytes after the state vector")
    return vector


def is_behind(mine: dict[int, int], theirs: dict[int, int]) -> bool:
    """True when `theirs` has seen something `mine` has not."""
    return any(clock > mine.get(client, 0) for client, clock in theirs.items())
