"""The rooms of one process: loading, unloading, persistence and fan-out between processes.

- Loading subscribes to the document's bus channel first, then reads the store, so nothing
  published meanwhile is missed (messages that arrive during the load are replayed after it).
  Concurrent joins of a room being loaded wait for the same load.
- A local update is written to this process's spool (collab/spool.py: a file, so it outlives
  the process) and delivered to this process's clients at once; then it is journaled
  (collab/journal.py) and published to the other processes in one step, so no other process
  shows it before it is in Redis. Without a spool (or when writing to it fails) the update
  waits for the journal before anyone sees it. Only the process whose client sent an update
  stores it: local updates are batched and appended to the store every `flush_interval`
  seconds, then released from the journal; updates from the bus are applied, not stored.
  Every `sweep_interval` the journal is swept for entries nobody stored, and the spool
  directory for segments of dead processes: both are stored and published.
- Every `sync_interval` each room publishes its state vector and a digest of its delete set; a
  process that has more answers with the difference, one that has less asks. Updates that Redis
  dropped heal this way.
- A room is unloaded `unload_after` seconds after its last client left, after a final flush.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pycrdt import merge_updates

from collab.bus import Bus
from collab.connection import CloseCode, Connection, FrameWriter, Identity, Transport
from collab.fanout import KIND_AWARENESS, KIND_CONTROL, KIND_UPDATE, SYNC_SLICES, ControlHandler, Fanout
from collab.journal import Append, Journal
from collab.keys import CollabKeys
from collab.metrics import HubMetrics
from collab.persistence import Persistence, Slot
from collab.room import Limits, Room
from collab.spool import Spool
from collab.store import DocumentGone, DocumentStore, load_document
from collab.tasks import spawn

log = logging.getLogger(__name__)

JOURNAL_TIMEOUT = 2.0  # seconds an append may take before updates are shown without it


@dataclass
class _Outgoing:
    """A local update waiting for the journal, or a frame that must not overtake such updates."""

    doc_id: str
    update: bytes = b""
    author: str | None = None
    origin: Connection | None = None
    reply: tuple[Connection, bytes] | None = None
    spooled: int | None = None  # its sequence number in the spool: already delivered locally


class Hub(Persistence):
    """Holds the open rooms of this process and keeps them durable and in step with the others."""

    def __init__(
        self,
        store: DocumentStore,
        bus: Bus,
        keys: CollabKeys,
        *,
        journal: Journal,
        spool: Spool | None = None,
        limits: Limits | None = None,
        flush_interval: float = 0.5,
        sync_interval: float = 2.0,
        unload_after: float = 10.0,
        compact_after: int = 200,
        version_every: float = 600.0,
        sweep_interval: float = 5.0,
        stale_after: float = 10.0,
        text_channels: Callable[[str], list[str]] | None = None,
        on_control: ControlHandler | None = None,
        max_connection_queue: int = 1024,
        max_connection_bytes: int = 16 * 1024 * 1024,
    ) -> None:
        self.store = store
        self.bus = bus
        self.journal = journal
        self.spool = spool
        self.keys = keys
        self.limits = limits or Limits()
        self.process_id = uuid.uuid4().bytes
        self.flush_interval = flush_interval
        self.sync_interval = sync_interval
        self.unload_after = unload_after
        self.compact_after = compact_after
        self.version_every = version_every
        self.sweep_interval = sweep_interval
        self.stale_after = stale_after
        self.text_channels = text_channels or (lambda doc_id: [])
        self.on_control = on_control
        self.max_connection_queue = max_connection_queue
        self.max_connection_bytes = max_connection_bytes
        self.metrics = HubMetrics()
        self.fanout = Fanout(
            bus, keys, self.process_id, self.metrics, sync_interval=sync_interval, on_control=on_control
        )
        self._slots: dict[str, Slot] = {}
        self._loading: dict[str, asyncio.Future[Slot]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._outgoing: list[_Outgoing] = []
        self._committing: asyncio.Task[None] | None = None
        self._drained = asyncio.Event()
        self._drained.set()
        self._spool_hold: int | None = None  # the oldest spooled update the journal refused, not stored yet
        self._journal_refusals = 0

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        try:
            await self.journal.open()
        except Exception as err:  # the first append or read connects it
            log.warning("journal_unavailable", extra={"error": repr(err)})
        if self.spool is not None:
            try:
                self.spool.open()
            except OSError as err:  # updates then wait for the journal before anyone sees them
                log.warning("spool_unavailable", extra={"error": repr(err), "directory": str(self.spool.directory)})
                self.spool = None
            try:
                await self.recover_spools()
            except Exception:  # the store is away: the sweep tries again
                log.exception("spool_recovery_failed")
        self._tasks = [
            asyncio.create_task(self._every(self.flush_interval, self.flush), name="hub-flush"),
            asyncio.create_task(self._every(self.sweep_interval, self.sweep), name="hub-sweep"),
            asyncio.create_task(self._every(self.sync_interval / SYNC_SLICES, self._sync_slice), name="hub-sync"),
        ]

    async def stop(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._drained.wait(), 5)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for doc_id in list(self._slots):
            await self._unload(doc_id)
        if self.spool is not None:
            self.spool.close(remove=self._spool_hold is None and not self._outgoing)
        await self.journal.close()

    async def flush(self) -> None:
        refusals = self._journal_refusals
        await super().flush()
        if refusals == self._journal_refusals:  # every update the journal refused is stored now
            self._spool_hold = None

    async def _every(self, interval: float, job: Callable[[], Awaitable[None]]) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await job()
            except Exception:
                log.exception("hub_job_failed")

    @property
    def rooms(self) -> dict[str, Room]:
        return {doc_id: slot.room for doc_id, slot in self._slots.items()}

    def room(self, doc_id: str) -> Room | None:
        """The document's room, if this process has it open."""
        slot = self._slots.get(doc_id)
        return slot.room if slot is not None else None

    def connection_count(self) -> int:
        return sum(len(slot.room.connections) for slot in self._slots.values())

    def connections_of(self, doc_id: str, user_id: str | None = None) -> list[Connection]:
        """This process's sockets on a document (of one user, when given)."""
        slot = self._slots.get(doc_id)
        if slot is None:
            return []
        return [c for c in slot.room.connections.values() if user_id is None or c.identity.user_id == user_id]

    def close_document(self, doc_id: str, code: int, reason: str) -> None:
        """Close every socket of this process on a document."""
        for connection in self.connections_of(doc_id):
            connection.shut(code, reason)

    def close_all(self, code: int, reason: str) -> None:
        for doc_id in list(self._slots):
            self.close_document(doc_id, code, reason)

    def set_access(self, doc_id: str, user_id: str, can_write: bool | None) -> None:
        """A user's role on a document changed: None closes their sockets (no longer a member),
        otherwise their writes are accepted or refused from now on."""
        for connection in self.connections_of(doc_id, user_id):
            if can_write is None:
                connection.shut(CloseCode.FORBIDDEN, "you are no longer a member of this workflow")
            else:
                connection.identity.can_write = can_write

    # --- joining and leaving --------------------------------------------------------------

    def connect(self, transport: Transport, identity: Identity, *, direct: FrameWriter | None = None) -> Connection:
        """A connection for `transport` (and its synchronous frame path, if it has one)."""
        connection = Connection(
            transport,
            identity,
            max_queue=self.max_connection_queue,
            max_bytes=self.max_connection_bytes,
            direct=direct,
        )
        connection.on_slow = self._count_slow
        return connection

    def _count_slow(self) -> None:
        self.metrics.slow_clients_dropped += 1

    def _count_unreadable(self) -> None:
        self.metrics.unreadable_updates += 1

    async def join(self, doc_id: str, connection: Connection) -> Room:
        """Open (or reuse) the room and add the connection. Raises DocumentGone."""
        slot = await self._open(doc_id)
        if slot.unload is not None:
            slot.unload.cancel()
            slot.unload = None
        slot.room.add(connection)
        return slot.room

    async def preload(self, doc_id: str) -> None:
        """Open the room now, while the checks of a socket about to join still run; if nobody
        joins, it unloads like a room everyone left. Raises DocumentGone."""
        slot = await self._open(doc_id)
        if not slot.room.connections and slot.unload is None:
            slot.unload = asyncio.get_running_loop().call_later(self.unload_after, self._start_unload, doc_id)

    async def _open(self, doc_id: str) -> Slot:
        slot = self._slots.get(doc_id)
        if slot is None:
            loading = self._loading.get(doc_id)
            if loading is None:
                loading = asyncio.get_running_loop().create_future()
                self._loading[doc_id] = loading
                try:
                    loading.set_result(await self._load(doc_id))
                except BaseException as err:
                    loading.set_exception(err)
                    loading.exception()  # mark retrieved: joiners below re-raise it
                finally:
                    del self._loading[doc_id]
            slot = await asyncio.shield(loading)
        return slot

    def leave(self, room: Room, connection: Connection) -> None:
        room.remove(connection)
        slot = self._slots.get(room.doc_id)
        if slot is not None and not room.connections and slot.unload is None:
            loop = asyncio.get_running_loop()
            slot.unload = loop.call_later(self.unload_after, self._start_unload, room.doc_id)

    def _start_unload(self, doc_id: str) -> None:
        spawn(self._unload(doc_id), name=f"unload-{doc_id}")

    async def _load(self, doc_id: str) -> Slot:
        early: list[bytes] = []
        channel = self.keys.document_channel(doc_id)
        await self.bus.subscribe(channel, early.append)
        try:
            # The journal before the store: an entry released in between is in the store by then.
            journaled = [update for _, update, _ in await self.journal.read(doc_id)]
            parts = await self.store.load(doc_id) + journaled
        except BaseException:
            await self.bus.unsubscribe(channel)
            raise
        doc = load_document(parts)
        room = Room(
            doc_id, doc, limits=self.limits, on_update=self._local_update, on_awareness=self._local_awareness,
            on_reply=self._reply_after_commit, on_unreadable=self._count_unreadable, size=sum(len(p) for p in parts),
        )  # fmt: skip
        slot = Slot(room)
        self._slots[doc_id] = slot
        # Replay what arrived during the load, then hand the channel to the room; nothing runs in
        # between (the handler is swapped before subscribe's first await), so order is kept.
        for message in early:
            self._on_bus(doc_id, message)
        await self.bus.subscribe(channel, lambda message: self._on_bus(doc_id, message))
        for text_channel in self.text_channels(doc_id):
            await self.bus.subscribe(text_channel, room.relay_text)
        self.fanout.hello(room)
        return slot

    async def _unload(self, doc_id: str) -> None:
        slot = self._slots.get(doc_id)
        if slot is None or slot.room.connections:
            if slot is not None:
                slot.unload = None
            return
        await slot.settled.wait()  # its last updates are on their way through the journal
        await self._store_pending([doc_id])
        with contextlib.suppress(DocumentGone):
            await self._reconcile(doc_id, slot.room)
            await self.store.compact(doc_id)
        if self._slots.get(doc_id) is slot and not slot.room.connections:
            del self._slots[doc_id]
            self.fanout.forget(doc_id)
            await self.bus.unsubscribe(self.keys.document_channel(doc_id))
            for text_channel in self.text_channels(doc_id):
                await self.bus.unsubscribe(text_channel)

    # --- local changes --------------------------------------------------------------------

    def _local_update(self, room: Room, update: bytes, origin: Connection | None, echo: bool) -> None:
        slot = self._slots.get(room.doc_id)
        if slot is None:
            return
        self.metrics.updates_applied += 1
        author = origin.identity.user_id if origin else None
        exclude = None if echo else origin
        spooled = self.spool.write(room.doc_id, update, author) if self.spool is not None else None
        if spooled is not None:  # it outlives this process: show it now
            room.deliver(update, exclude=exclude)
        else:
            room.uncommitted += 1
        slot.unjournaled += 1
        slot.settled.clear()
        self._queue(_Outgoing(room.doc_id, update, author, exclude, spooled=spooled))

    def _reply_after_commit(self, room: Room, connection: Connection, frame: bytes) -> None:
        self._queue(_Outgoing(room.doc_id, reply=(connection, frame)))

    def _queue(self, item: _Outgoing) -> None:
        self._outgoing.append(item)
        if self._committing is None:
            self._drained.clear()
            self._committing = asyncio.get_running_loop().create_task(self._commit_queued())

    async def _commit_queued(self) -> None:
        """Journal queued updates (what queues up during one append goes in the next), then
        deliver them, in order."""
        try:
            while self._outgoing:
                batch, self._outgoing = self._outgoing, []
                try:
                    await self._commit(batch)
                except Exception:
                    log.exception("hub_commit_failed")
        finally:
            self._committing = None
            self._drained.set()

    async def _commit(self, batch: list[_Outgoing]) -> None:
        appends = []
        for item in batch:
            if item.reply is None:
                slot = self._slots.get(item.doc_id)
                publish = slot is not None and self.fanout.has_peers(item.doc_id)
                channel = self.keys.document_channel(item.doc_id) if publish else None
                appends.append(Append(item.doc_id, item.update, item.author, channel, self.fanout.header(KIND_UPDATE)))
        spooled = [item.spooled for item in batch if item.spooled is not None]
        entry_ids: list[str | None]
        refused = False
        try:
            async with asyncio.timeout(JOURNAL_TIMEOUT):  # no extra task, unlike wait_for
                entry_ids = list(await self.journal.append(appends))
        except Exception as err:
            # Without the journal, an update is as durable as the next flush makes it; showing
            # it beats refusing every edit while Redis is away (pub/sub is down then as well).
            self.metrics.journal_failures += len(appends)
            refused = bool(spooled)
            log.warning("journal_append_failed", extra={"error": repr(err), "updates": len(appends)})
            entry_ids = [None] * len(appends)
            for append in appends:
                if append.channel is not None:
                    self.fanout.send(append.doc_id, KIND_UPDATE, append.update)
        else:
            self._release_spool(max(spooled, default=0))
        try:
            await self._settle(batch, entry_ids)
        finally:
            if refused:  # kept in the spool until a flush that began after this stores them
                self._journal_refusals += 1
                if self._spool_hold is None:
                    self._spool_hold = min(spooled)

    async def _settle(self, batch: list[_Outgoing], entry_ids: list[str | None]) -> None:
        """After the journal: replies go out, updates wait for the flush (and are shown if
        they were not yet)."""
        ids = iter(entry_ids)
        for item in batch:
            slot = self._slots.get(item.doc_id)
            if item.reply is not None:
                item.reply[0].enqueue(item.reply[1], reply=True)  # ends the client's claim once sent
                continue
            entry_id = next(ids)
            if slot is None:  # unloaded meanwhile: its store happened without this update
                await self.store.append_many({item.doc_id: [(item.update, item.author)]})
                continue
            slot.unjournaled -= 1
            if not slot.unjournaled:
                slot.settled.set()
            slot.pending.append((item.update, item.author, entry_id))
            slot.active_since_version = True
            if item.spooled is None:
                slot.room.uncommitted -= 1
                slot.room.deliver(item.update, exclude=item.origin)

    def _release_spool(self, upto: int) -> None:
        if self.spool is not None and upto:
            self.spool.release(upto if self._spool_hold is None else min(upto, self._spool_hold - 1))

    def _local_awareness(self, room: Room, payload: bytes) -> None:
        if room.doc_id in self._slots and self.fanout.has_peers(room.doc_id):
            self.fanout.send(room.doc_id, KIND_AWARENESS, payload)

    async def unstored(self, doc_id: str) -> bytes | None:
        """What the store may not hold yet: every journaled update of the document (from any
        process), and — only when this process holds updates the journal has not taken yet or
        could not take — the document as its room holds it (encoding a large room is not free).
        Call it before reading the store, and apply it on top of what the store gives."""
        parts = [update for _, update, _ in await self.journal.read(doc_id)]
        slot = self._slots.get(doc_id)
        if slot is not None and (slot.unjournaled or any(entry is None for _, _, entry in slot.pending)):
            parts.append(slot.room.doc.get_update())
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else merge_updates(*parts)

    def apply_server_update(self, doc_id: str, update: bytes, *, stored: bool) -> None:
        """A change made outside any room (REST edit). `stored`: already in the log."""
        slot = self._slots.get(doc_id)
        if stored:
            if slot is not None:
                slot.room.apply_remote(update)
            self.fanout.send(doc_id, KIND_UPDATE, update)
        elif slot is not None:
            slot.room.apply(update, None)

    async def control(self, doc_id: str, event: dict[str, Any]) -> None:
        """Tell every process serving `doc_id` (this one too) about an access change."""
        if self.on_control is not None and doc_id in self._slots:
            await self.on_control(doc_id, event)
        await self.fanout.publish(doc_id, KIND_CONTROL, json.dumps(event).encode())

    # --- between processes ----------------------------------------------------------------

    def _on_bus(self, doc_id: str, message: bytes) -> None:
        slot = self._slots.get(doc_id)
        if slot is not None:
            self.fanout.receive(slot.room, message)

    async def anti_entropy(self) -> None:
        """Announce every room's state now (also run after the bus reconnects)."""
        for room in list(self.rooms.values()):
            await self.fanout.announce(room)

    async def _sync_slice(self) -> None:
        await self.fanout.announce_slice(self.rooms)
