"""The room on its own: what each kind of frame does to the document and to who hears of it."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from pycrdt import Doc, Map

from collab import protocol
from collab.connection import Connection, Identity
from collab.room import Limits, Refused, Room

pytestmark = pytest.mark.anyio


class Recorder:
    """A transport that keeps every decoded frame it was sent."""

    def __init__(self) -> None:
        self.frames: list[protocol.Message] = []
        self.texts: list[str] = []

    async def send(self, data: bytes | str) -> None:
        if isinstance(data, bytes):
            self.frames.append(protocol.decode(data))
        else:
            self.texts.append(data)

    async def close(self, code: int, reason: str) -> None:
        pass

    def of(self, kind: type[Any]) -> list[Any]:
        return [f for f in self.frames if isinstance(f, kind)]


class Harness:
    """A room whose every local change is delivered at once (as the hub does once journaled)."""

    def __init__(self, limits: Limits | None = None) -> None:
        self.changes: list[tuple[bytes, Connection | None, bool]] = []
        self.awareness: list[bytes] = []
        self.replies: list[tuple[Connection, bytes]] = []
        self.writers: list[asyncio.Task[None]] = []
        self.room = Room(
            "doc",
            Doc(),
            limits=limits or Limits(),
            on_update=self._changed,
            on_awareness=lambda room, payload: self.awareness.append(payload),
            on_reply=lambda room, connection, reply: self.replies.append((connection, reply)),
        )

    def _changed(self, room: Room, update: bytes, origin: Connection | None, echo: bool) -> None:
        self.changes.append((update, origin, echo))
        room.deliver(update, exclude=None if echo else origin)

    def join(self, name: str, *, can_write: bool = True) -> tuple[Connection, Recorder]:
        recorder = Recorder()
        connection = Connection(recorder, Identity(name, name.title(), can_write))
        self.writers.append(asyncio.create_task(connection.run_writer()))
        self.room.add(connection)
        return connection, recorder

    async def settle(self) -> None:
        for _ in range(5):
            await asyncio.sleep(0)

    def close(self) -> None:
        for writer in self.writers:
            writer.cancel()


def edit(base: Doc[Any] | None, key: str, value: Any) -> tuple[Doc[Any], bytes]:
    """A client document (a copy of `base`) with `nodes[key] = value`, and the update it made."""
    client: Doc[Any] = Doc()
    if base is not None:
        client.apply_update(base.get_update())
    before = client.get_state()
    client.get("nodes", type=Map)[key] = value
    return client, client.get_update(before)


def nodes(doc: Doc[Any]) -> dict[str, Any]:
    return dict(doc.get("nodes", type=Map).to_py() or {})


async def test_a_joiner_is_asked_for_its_state_and_told_who_is_here() -> None:
    harness = Harness()
    first, _ = harness.join("ada")
    harness.room.receive(first, protocol.awareness(_presence(7, {"cursor": {"x": 1, "y": 2}})))
    _, seen = harness.join("bob")
    await harness.settle()
    assert [type(f) for f in seen.frames] == [protocol.SyncStep1, protocol.AwarenessMessage]
    harness.close()


async def test_a_writers_update_changes_the_document_and_reaches_everyone_else() -> None:
    harness = Harness()
    writer, writer_seen = harness.join("ada")
    _, reader_seen = harness.join("bob")
    _, update = edit(None, "n1", "hello")
    assert harness.room.apply(update, writer) is not None
    harness.room.receive(writer, protocol.sync_update(update))  # the same update again changes nothing
    await harness.settle()
    assert nodes(harness.room.doc) == {"n1": "hello"}
    assert len(harness.changes) == 1 and harness.changes[0][1] is writer
    assert len(reader_seen.of(protocol.SyncUpdate)) == 1
    assert writer_seen.of(protocol.SyncUpdate) == []  # the writer already has its own change
    harness.close()


async def test_a_viewers_update_is_refused_and_changes_nothing() -> None:
    harness = Harness()
    viewer, seen = harness.join("vic", can_write=False)
    _, update = edit(None, "n1", "sneaky")
    harness.room.receive(viewer, protocol.sync_update(update))
    await harness.settle()
    assert nodes(harness.room.doc) == {} and harness.changes == []
    assert [f.reason for f in seen.of(protocol.AuthMessage)] == ["read-only: viewers cannot edit this workflow"]
    harness.close()


async def test_an_update_over_the_document_size_limit_is_refused() -> None:
    harness = Harness(Limits(max_document_bytes=2_000))
    writer, _ = harness.join("ada")
    _, update = edit(None, "big", "x" * 5_000)
    with pytest.raises(Refused, match="document size limit"):
        harness.room.apply(update, writer)
    assert nodes(harness.room.doc) == {}
    harness.close()


async def test_a_remote_update_with_a_missing_predecessor_waits_for_it() -> None:
    harness = Harness()
    _, seen = harness.join("bob")
    client: Doc[Any] = Doc()  # one client's two edits: the second continues the first's clock
    client.get("nodes", type=Map)["n1"] = "one"
    first = client.get_update()
    before = client.get_state()
    client.get("nodes", type=Map)["n1"] = "two"
    second = client.get_update(before)
    harness.room.apply_remote(second)
    assert harness.room.wants_sync and nodes(harness.room.doc) == {}
    harness.room.apply_remote(first)
    await harness.settle()
    assert not harness.room.wants_sync and harness.room.held == []
    assert nodes(harness.room.doc) == {"n1": "two"}
    assert len(seen.of(protocol.SyncUpdate)) == 1  # both arrived as one merged change
    harness.close()


async def test_a_sync_request_during_an_unjournaled_update_is_answered_after_it() -> None:
    harness = Harness()
    reader, seen = harness.join("bob")
    harness.room.uncommitted = 1  # the hub is journaling a change
    harness.room.receive(reader, protocol.sync_step1(Doc().get_state()))
    await harness.settle()
    assert seen.of(protocol.SyncStep2) == [] and [c for c, _ in harness.replies] == [reader]
    harness.close()


async def test_run_events_read_together_reach_each_socket_as_one_array_in_order() -> None:
    harness = Harness()
    _, ada = harness.join("ada")
    _, bob = harness.join("bob")
    events = [{"type": "node_started", "run_id": "r", "seq": seq, "node_id": f"n{seq}"} for seq in range(1, 5)]
    for event in events[:3]:  # one read of the bus
        harness.room.relay_text(json.dumps(event).encode())
    await harness.settle()
    harness.room.relay_text(json.dumps(events[3]).encode())  # a read of its own
    await harness.settle()
    for seen in (ada, bob):
        assert [json.loads(text) for text in seen.texts] == [events[:3], events[3]]
    harness.close()


async def test_leaving_takes_the_leavers_cursors_away_for_everyone() -> None:
    harness = Harness()
    leaver, _ = harness.join("ada")
    _, seen = harness.join("bob")
    harness.room.receive(leaver, protocol.awareness(_presence(7, {"cursor": {"x": 1, "y": 2}})))
    assert 7 in harness.room.presence
    harness.room.remove(leaver)
    await harness.settle()
    assert 7 not in harness.room.presence
    gone = protocol.decode_awareness(seen.of(protocol.AwarenessMessage)[-1].payload)
    assert [(entry.client_id, entry.state) for entry in gone] == [(7, None)]
    harness.close()


def _presence(client_id: int, state: dict[str, Any]) -> bytes:
    raw = json.dumps(state).encode()
    return protocol.var_uint(1) + protocol.var_uint(client_id) + protocol.var_uint(1) + protocol.var_bytes(raw)
