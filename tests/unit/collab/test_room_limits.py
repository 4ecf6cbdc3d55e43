"""What one hostile member can cost a room: each attack of the hardening review, bounded."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from pycrdt import Doc, Map

from collab import protocol
from collab.connection import CloseCode, Connection, Identity
from collab.room import Limits, Room

pytestmark = pytest.mark.anyio


class NeverReads:
    """A peer that stopped reading: sends block for good."""

    def __init__(self) -> None:
        self.closed: tuple[int, str] | None = None

    async def send(self, data: bytes | str) -> None:
        await asyncio.Event().wait()

    async def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)


def make_room(limits: Limits | None = None, doc: Doc[Any] | None = None) -> Room:
    def deliver(room: Room, update: bytes, origin: Connection | None, echo: bool) -> None:
        room.deliver(update, exclude=origin)

    return Room("d", doc or Doc(), limits=limits or Limits(), on_update=deliver, on_awareness=lambda r, p: None)


def connect(room: Room, *, can_write: bool = True, **options: Any) -> Connection:
    connection = Connection(NeverReads(), Identity("u", "U", can_write), **options)
    room.add(connection)
    return connection


def big_doc(entries: int) -> Doc[Any]:
    doc: Doc[Any] = Doc()
    doc.get("meta", type=Map)["blob"] = "x" * entries
    return doc


async def test_repeated_sync_requests_queue_one_reply_only() -> None:
    room = make_room(doc=big_doc(1_000_000))  # a ~1 MB document
    viewer = connect(room, can_write=False)
    for _ in range(400):
        room.receive(viewer, protocol.sync_step1(b"\x00"))
    assert not viewer.closed
    assert viewer.queued_bytes < 1_100_000  # one reply, not 400 MB


async def test_the_outbox_is_capped_in_bytes() -> None:
    room = make_room(doc=big_doc(1_000_000))
    reader = connect(room, max_bytes=3_000_000)
    writer = connect(room)
    for i in range(5):  # big updates the stalled reader never takes
        room.receive(writer, protocol.sync_update(_set_blob(room, "y" * 700_000 + str(i))))
    assert reader.closed and reader.close_code == CloseCode.TRY_AGAIN


def _set_blob(room: Room, value: str) -> bytes:
    client: Doc[Any] = Doc()
    client.apply_update(room.doc.get_update())
    before = client.get_state()
    client.get("meta", type=Map)["blob"] = value
    return client.get_update(before)


async def test_a_lying_update_is_refused_before_it_is_decoded() -> None:
    room = make_room()
    writer = connect(room)
    with pytest.raises(protocol.ProtocolError):
        room.receive(writer, protocol.sync_update(b"\x01" + protocol.var_uint(1 << 28) + b"\x01\x00"))


async def test_a_malformed_state_vector_is_a_protocol_error() -> None:
    room = make_room()
    with pytest.raises(protocol.ProtocolError):
        room.receive(connect(room), protocol.sync_step1(b"\x05\x01"))


def _presence(entries: list[tuple[int, int, bytes]]) -> bytes:
    parts = [protocol.var_uint(len(entries))]
    for client_id, clock, raw in entries:
        parts += [protocol.var_uint(client_id), protocol.var_uint(clock), protocol.var_bytes(raw)]
    return protocol.awareness(b"".join(parts))


async def test_presence_is_capped_per_socket_and_unreadable_states_are_dropped() -> None:
    room = make_room()
    socket = connect(room)
    cursor = json.dumps({"cursor": {"x": 1, "y": 2}}).encode()
    room.receive(socket, _presence([(i, 1, cursor) for i in range(1, 5001)]))
    assert len(room.presence) == Limits().max_presence_clients
    other = connect(room)
    room.receive(other, _presence([(9_000, 1, b'{"cursor": {"x": NaN}}'), (2**54, 1, cursor), (9_001, 1, cursor)]))
    assert 9_000 not in room.presence and 2**54 not in room.presence and 9_001 in room.presence


async def test_presence_messages_beyond_the_rate_are_dropped() -> None:
    room = make_room(Limits(presence_per_second=1, presence_burst=5))
    socket = connect(room)
    for clock in range(1, 50):
        room.receive(socket, _presence([(1, clock, json.dumps({"n": clock}).encode())]))
    assert room.presence[1].clock == 5  # the burst went through, the flood did not


def _add_edges(room: Room, count: int, prefix: str) -> bytes:
    client: Doc[Any] = Doc()
    client.apply_update(room.doc.get_update())
    before = client.get_state()
    edges = client.get("edges", type=Map)
    with client.transaction():
        for i in range(count):
            edges[f"{prefix}{i}"] = Map({"source": "a", "target": "b"})
    return client.get_update(before)


async def test_edges_past_the_limit_are_taken_back_and_a_persistent_writer_is_closed() -> None:
    room = make_room(Limits(max_edges=10, max_refusals=3))
    writer = connect(room)
    room.receive(writer, protocol.sync_update(_add_edges(room, 8, "ok")))
    assert len(room.doc.get("edges", type=Map)) == 8
    for attempt in range(3):
        room.receive(writer, protocol.sync_update(_add_edges(room, 100, f"flood{attempt}-")))
        assert len(room.doc.get("edges", type=Map)) == 8
    assert writer.closed and writer.close_code == CloseCode.TOO_MANY_REFUSALS
