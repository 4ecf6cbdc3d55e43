"""Between the web processes that hold the same document: the message format, who else holds
the document, and anti-entropy.

A bus message is `kind (1 byte) + sender process id (16) + send time (24, hex float) + payload`;
a process ignores its own. Kinds: `U` update, `A` awareness, `S` state announcement (state
vector + delete-set digest), `H` hello (an announcement from a process that just opened the
room, which every holder answers at once), `C` control (access changes).

- Updates are published only while another process is known to hold the document: every
  process announces each room every `sync_interval` (rooms take turns, a slice per tick).
- A process that has more than an announcement shows answers with the difference; one that
  has less asks (a probe, at most a few per second). Updates that Redis dropped heal this way.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

from collab import protocol
from collab.bus import Bus
from collab.keys import CollabKeys
from collab.metrics import HubMetrics
from collab.room import Room
from collab.tasks import spawn
from collab.updates import delete_set_digest

log = logging.getLogger(__name__)

KIND_UPDATE = b"U"
KIND_AWARENESS = b"A"
KIND_SYNC = b"S"
KIND_HELLO = b"H"
KIND_CONTROL = b"C"
SENDER_BYTES = 16
STAMP_BYTES = 24
HEADER_BYTES = 1 + SENDER_BYTES + STAMP_BYTES
SYNC_SLICES = 8
# A busy room's periodic announcement carries its delete-set digest at most this often: the digest
# is recomputed for every new version of the document, and parsing a long-edited document's
# delete set is the costliest thing a room does (half a web process's time after 26 minutes of
# constant editing, before this). A quiet room sends it with every announcement.
DIGEST_EVERY = 30.0

ControlHandler = Callable[[str, dict[str, Any]], Coroutine[Any, Any, None]]


class Fanout:
    """This process's side of the conversation about its open documents."""

    def __init__(
        self,
        bus: Bus,
        keys: CollabKeys,
        process_id: bytes,
        metrics: HubMetrics,
        *,
        sync_interval: float = 2.0,
        on_control: ControlHandler | None = None,
    ) -> None:
        self.bus = bus
        self.keys = keys
        self.process_id = process_id
        self.metrics = metrics
        self.sync_interval = sync_interval
        self.on_control = on_control
        self._peer_seen: dict[str, float] = {}  # when another process last spoke about a document
        self._digests: dict[str, tuple[int, bytes]] = {}
        self._last_probe: dict[str, float] = {}
        self._announced: dict[str, tuple[int, float]] = {}  # version at the last announcement, last digest
        self._tick = 0

    def forget(self, doc_id: str) -> None:
        for table in (self._peer_seen, self._digests, self._last_probe, self._announced):
            table.pop(doc_id, None)

    def has_peers(self, doc_id: str) -> bool:
        """Another process has this document open (it announces itself every sync interval)."""
        return time.monotonic() - self._peer_seen.get(doc_id, 0.0) < self.sync_interval * 3

    # --- sending ---------------------------------------------------------------------------

    def header(self, kind: bytes) -> bytes:
        return kind + self.process_id + time.time().hex().encode().ljust(STAMP_BYTES)

    async def publish(self, doc_id: str, kind: bytes, payload: bytes) -> None:
        await self.bus.publish(self.keys.document_channel(doc_id), self.header(kind) + payload)

    def send(self, doc_id: str, kind: bytes, payload: bytes) -> None:
        """Publish without waiting (from synchronous code); failures are logged."""
        spawn(self.publish(doc_id, kind, payload))

    def hello(self, room: Room) -> None:
        """Announce a room just opened here; its joiners need not wait for the announcement."""
        self.send(room.doc_id, KIND_HELLO, self.sync_payload(room))

    # --- receiving -------------------------------------------------------------------------

    def receive(self, room: Room, message: bytes) -> None:
        """A message from the document's channel (any process, this one included)."""
        kind, sender = message[:1], message[1 : 1 + SENDER_BYTES]
        if sender == self.process_id:
            return
        doc_id, payload = room.doc_id, message[HEADER_BYTES:]
        self._peer_seen[doc_id] = time.monotonic()
        if kind == KIND_UPDATE:
            self.metrics.remote_updates += 1
            if self.metrics.observe_fanout is not None:
                with contextlib.suppress(ValueError):
                    sent = float.fromhex(message[1 + SENDER_BYTES : HEADER_BYTES].decode().strip())
                    self.metrics.observe_fanout(time.time() - sent)
            room.apply_remote(payload)
            if room.wants_sync:
                self.probe(room)
        elif kind == KIND_AWARENESS:
            room.apply_remote_awareness(payload)
        elif kind == KIND_SYNC:
            self.answer_sync(room, payload)
        elif kind == KIND_HELLO:
            # A process just opened the room: make sure it knows about us at once, or it would
            # not publish its clients' updates until our next periodic announcement.
            if not self.answer_sync(room, payload):
                self.send(doc_id, KIND_SYNC, self.sync_payload(room))
        elif kind == KIND_CONTROL and self.on_control is not None:
            spawn(self.on_control(doc_id, json.loads(payload)))

    # --- anti-entropy ----------------------------------------------------------------------

    def _digest(self, room: Room) -> bytes:
        cached = self._digests.get(room.doc_id)
        if cached is None or cached[0] != room.version:
            cached = (room.version, delete_set_digest(room.doc))
            self._digests[room.doc_id] = cached
        return cached[1]

    def sync_payload(self, room: Room) -> bytes:
        return protocol.var_bytes(room.doc.get_state()) + self._digest(room)

    def answer_sync(self, room: Room, payload: bytes) -> bool:
        """Send the difference to a process that is behind, probe one that is ahead; True when
        something was sent."""
        reader = protocol.Reader(payload)
        try:
            their_state = reader.var_bytes()
            theirs = protocol.decode_state_vector(their_state)
        except protocol.ProtocolError:
            return False
        their_digest = payload[reader.pos :]
        mine = protocol.decode_state_vector(room.doc.get_state())
        sent = False
        if protocol.is_behind(theirs, mine) or (their_digest and their_digest != self._digest(room)):
            self.send(room.doc_id, KIND_UPDATE, room.doc.get_update(their_state))
            sent = True
        if protocol.is_behind(mine, theirs):
            sent = self.probe(room) or sent
        return sent

    def probe(self, room: Room) -> bool:
        """Ask the other processes for what this room lacks (at most a few times a second)."""
        now = time.monotonic()
        if now - self._last_probe.get(room.doc_id, 0.0) > min(0.25, self.sync_interval / 4):
            self._last_probe[room.doc_id] = now
            self.send(room.doc_id, KIND_SYNC, self.sync_payload(room))
            return True
        return False

    async def announce(self, room: Room) -> None:
        room.expire_presence()
        now = time.monotonic()
        version, digest_at = self._announced.get(room.doc_id, (-1, 0.0))
        quiet = version == room.version
        if self.has_peers(room.doc_id) and (quiet or now - digest_at > DIGEST_EVERY):
            payload = self.sync_payload(room)
            digest_at = now
        else:  # the state vector alone: "I have this open", and what I have seen
            payload = protocol.var_bytes(room.doc.get_state())
        self._announced[room.doc_id] = (room.version, digest_at)
        await self.publish(room.doc_id, KIND_SYNC, payload)

    async def announce_slice(self, rooms: dict[str, Room]) -> None:
        """Announce the rooms whose turn it is. Rooms take turns, a slice per tick, so a process
        with many rooms never spends one long burst on announcements while clients wait."""
        self._tick = (self._tick + 1) % SYNC_SLICES
        for doc_id, room in list(rooms.items()):
            if hash(doc_id) % SYNC_SLICES == self._tick:
                await self.announce(room)
