"""Keeping a process's rooms durable: pending updates stored in batches, journal entries released
once stored, compaction and automatic versions as they fall due, and the sweep that stores what
a dead process journaled or spooled. `Hub` holds the rooms; this part of it only writes them down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field

from pycrdt import merge_updates

from collab import protocol
from collab.journal import Journal
from collab.metrics import HubMetrics
from collab.room import Room
from collab.spool import Spool
from collab.store import DocumentGone, DocumentStore, load_document
from collab.updates import delete_set_digest

log = logging.getLogger(__name__)


def _set_event() -> asyncio.Event:
    event = asyncio.Event()
    event.set()
    return event


@dataclass
class Slot:
    room: Room
    pending: list[tuple[bytes, str | None, str | None]] = field(default_factory=list)  # update, author, entry
    unload: asyncio.TimerHandle | None = None
    stored_since_compaction: int = 0
    last_version: float = field(default_factory=time.monotonic)
    active_since_version: bool = False
    unjournaled: int = 0  # local updates of the room on their way to the journal
    settled: asyncio.Event = field(default_factory=_set_event)  # unjournaled is 0


class Persistence:
    """The persistence half of `Hub` (which sets these attributes)."""

    store: DocumentStore
    journal: Journal
    spool: Spool | None
    metrics: HubMetrics
    compact_after: int
    version_every: float
    stale_after: float
    _slots: dict[str, Slot]

    def apply_server_update(self, doc_id: str, update: bytes, *, stored: bool) -> None:
        raise NotImplementedError

    async def flush(self) -> None:
        """Store every room's pending updates in one write, then compact and version as due."""
        await self._store_pending(list(self._slots))
        for doc_id, slot in list(self._slots.items()):
            if time.monotonic() - slot.last_version > self.version_every and slot.active_since_version:
                slot.last_version, slot.active_since_version = time.monotonic(), False
                with contextlib.suppress(DocumentGone):
                    await self.store.save_version(doc_id, slot.room.doc.get_update(), "", None)

    async def _store_pending(self, doc_ids: list[str]) -> None:
        """Append the pending updates of these rooms in one write; compact the rooms that are due."""
        slots = {doc_id: self._slots[doc_id] for doc_id in doc_ids if doc_id in self._slots}
        batch = {doc_id: slot.pending for doc_id, slot in slots.items() if slot.pending}
        if not batch:
            return
        for doc_id in batch:
            self._slots[doc_id].pending = []
        rows = {doc_id: _by_author([(u, a) for u, a, _ in pending]) for doc_id, pending in batch.items()}
        try:
            await self.store.append_many(rows)
        except Exception:
            for doc_id, pending in batch.items():  # keep them; the next flush retries
                if doc_id in self._slots:
                    self._slots[doc_id].pending[:0] = pending
            raise
        stored = {
            doc_id: [entry_id for _, _, entry_id in pending if entry_id is not None]
            for doc_id, pending in batch.items()
        }
        try:
            await self.journal.release({doc_id: ids for doc_id, ids in stored.items() if ids})
        except Exception as err:  # stored already; the sweep releases them later
            log.warning("journal_release_failed", extra={"error": repr(err)})
        for doc_id, pending in batch.items():
            self.metrics.updates_stored += len(pending)
            slot = self._slots.get(doc_id)
            if slot is not None:
                slot.stored_since_compaction += len(rows[doc_id])
                if slot.stored_since_compaction >= self.compact_after:
                    slot.stored_since_compaction = 0
                    with contextlib.suppress(DocumentGone):
                        await self.store.compact(doc_id)

    async def sweep(self) -> None:
        """Store and publish journal entries that their process did not store (it died, or the
        store was down), and what dead processes left in their spools; open rooms anywhere apply
        them."""
        for doc_id, entries in (await self.journal.stale(self.stale_after)).items():
            updates = [(update, author) for _, update, author in entries]
            gone = await self.store.append_many({doc_id: _by_author(updates)})
            await self.journal.release({doc_id: [entry_id for entry_id, _, _ in entries]})
            if doc_id not in gone:
                self.metrics.journal_recovered += len(entries)
                log.info("journal_recovered", extra={"doc_id": doc_id, "updates": len(entries)})
                self._recovered(doc_id, updates)
        await self.recover_spools()

    async def recover_spools(self) -> None:
        """Store and publish what the spool segments of dead processes hold (each segment is
        deleted once stored; one the store refuses stays for the next sweep)."""
        if self.spool is None:
            return
        for orphan in self.spool.orphans():
            by_doc: dict[str, list[tuple[bytes, str | None]]] = {}
            for doc_id, author, update in orphan.records:
                by_doc.setdefault(doc_id, []).append((update, author))
            try:
                gone = await self.store.append_many({doc_id: _by_author(u) for doc_id, u in by_doc.items()})
            except Exception:
                orphan.keep()
                raise
            orphan.remove()
            for doc_id, updates in by_doc.items():
                if doc_id not in gone:
                    self.metrics.spool_recovered += len(updates)
                    log.info("spool_recovered", extra={"doc_id": doc_id, "updates": len(updates)})
                    self._recovered(doc_id, updates)

    def _recovered(self, doc_id: str, updates: list[tuple[bytes, str | None]]) -> None:
        """Updates just stored on a dead process's behalf: open rooms anywhere apply them."""
        self.apply_server_update(doc_id, merge_updates(*(update for update, _ in updates)), stored=True)

    async def _reconcile(self, doc_id: str, room: Room) -> None:
        """Store what this room holds and the store lacks: updates other processes applied here
        but died before storing. Appending known content again is harmless (CRDT merge)."""
        stored = load_document(await self.store.load(doc_id))
        if protocol.is_behind(
            protocol.decode_state_vector(stored.get_state()), protocol.decode_state_vector(room.doc.get_state())
        ) or delete_set_digest(stored) != delete_set_digest(room.doc):
            await self.store.append_many({doc_id: [(room.doc.get_update(stored.get_state()), None)]})


def _by_author(pending: list[tuple[bytes, str | None]]) -> list[tuple[bytes, str | None]]:
    """One merged log row per author."""
    by_author: dict[str | None, list[bytes]] = {}
    for update, author in pending:
        by_author.setdefault(author, []).append(update)
    return [(u[0] if len(u) == 1 else merge_updates(*u), author) for author, u in by_author.items()]
