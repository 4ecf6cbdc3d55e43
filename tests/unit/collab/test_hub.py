"""The hub's promises one at a time, on in-memory twins: an update is spooled (or, without a
spool, journaled) before anyone sees it, a room that opens is known to the others at once, and
what a dead process left in the journal or its spool is stored."""

from __future__ import annotations

import asyncio
from pathlib import Path

from pycrdt import Map

from collab.bus import MemoryBus
from collab.hub import Hub
from collab.journal import Append, MemoryJournal
from collab.keys import CollabKeys
from collab.spool import Spool
from collab.store import MemoryDocumentStore, load_document
from tests.unit.collab.memory_client import DOC, Client, settle


class GatedJournal(MemoryJournal):
    """A journal whose appends wait until the test opens the gate."""

    def __init__(self, bus: MemoryBus) -> None:
        super().__init__(bus.attach())
        self.gate = asyncio.Event()

    async def append(self, appends: list[Append]) -> list[str]:
        await self.gate.wait()
        return await super().append(appends)


async def stored(store: MemoryDocumentStore) -> dict[str, object] | None:
    return load_document(await store.load(DOC)).get("nodes", type=Map).to_py()


def segments(directory: Path, pattern: str = "*.log") -> int:
    return len(list(directory.glob(pattern)))


def make_hub(
    store: MemoryDocumentStore, bus: MemoryBus, journal: MemoryJournal, spool: Spool | None = None, **options: float
) -> Hub:
    return Hub(store, bus.attach(), CollabKeys("t"), journal=journal, spool=spool, unload_after=3600, **options)


def test_nobody_sees_an_update_before_it_is_journaled() -> None:
    async def run() -> None:
        store, bus = MemoryDocumentStore(), MemoryBus()
        store.create(DOC)
        journal = GatedJournal(bus)
        hub = make_hub(store, bus, journal)
        writer, reader, joiner = Client("w"), Client("r"), Client("j")
        await writer.connect(hub)
        await reader.connect(hub)
        await settle()
        writer.nodes["a"] = 1
        await settle()
        assert reader.state() == {}  # held back while the append is under way
        await joiner.connect(hub)  # a newcomer's sync must not leak it either
        await settle()
        assert joiner.state() == {}
        journal.gate.set()
        await settle()
        assert reader.state() == joiner.state() == {"a": 1.0}
        assert joiner.connection is not None and joiner.connection.claim_reply()  # the held reply was sent
        assert [u for _, u, _ in await journal.read(DOC)]  # in the journal until the flush
        await hub.flush()
        assert await journal.read(DOC) == []
        assert await stored(store) == {"a": 1.0}

    asyncio.run(run())


def test_updates_are_still_shown_and_stored_when_the_journal_is_down() -> None:
    async def run() -> None:
        store, bus = MemoryDocumentStore(), MemoryBus()
        store.create(DOC)
        journal = MemoryJournal(bus.attach())
        journal.fail = True
        hub = make_hub(store, bus, journal)
        writer, reader = Client("w"), Client("r")
        await writer.connect(hub)
        await reader.connect(hub)
        writer.nodes["a"] = 1
        await settle()
        assert reader.state() == {"a": 1.0}
        assert hub.metrics.journal_failures == 1
        await hub.flush()
        assert await stored(store) == {"a": 1.0}

    asyncio.run(run())


def test_a_room_opening_elsewhere_is_known_at_once() -> None:
    """Without waiting for a periodic announcement, an update made right after a second process
    opened the room reaches that process."""

    async def run() -> None:
        store, bus = MemoryDocumentStore(), MemoryBus()
        store.create(DOC)
        journal = MemoryJournal(bus.attach())
        first, second = make_hub(store, bus, journal), make_hub(store, bus, journal)
        early, late = Client("early"), Client("late")
        await early.connect(first)
        await settle()
        await late.connect(second)  # the second process opens the room and says hello
        await settle()
        late.nodes["x"] = 1  # the newcomer must know it has company before anyone announces
        await settle()
        assert early.state() == {"x": 1.0}

    asyncio.run(run())


def test_the_sweep_stores_what_a_dead_process_journaled_and_open_rooms_get_it() -> None:
    async def run() -> None:
        store, bus = MemoryDocumentStore(), MemoryBus()
        store.create(DOC)
        journal = MemoryJournal(bus.attach())
        dead = make_hub(store, bus, journal)
        survivor = make_hub(store, bus, journal, stale_after=0.0)
        writer, watcher = Client("w"), Client("watch")
        await writer.connect(dead)
        await settle()
        bus.drop_next = 1000  # the dead process's messages never arrive
        writer.nodes["lost"] = 1
        await settle()
        bus.drop_next = 0
        await watcher.connect(survivor)  # loads journal + store: it already sees the edit
        await settle()
        assert watcher.state() == {"lost": 1.0}
        assert await stored(store) in (None, {})
        await survivor.sweep()
        assert await stored(store) == {"lost": 1.0}
        assert await journal.read(DOC) == [] and survivor.metrics.journal_recovered == 1

    asyncio.run(run())


def test_a_spooled_update_is_shown_at_once_and_journaled_after(tmp_path: Path) -> None:
    async def run() -> None:
        store, bus = MemoryDocumentStore(), MemoryBus()
        store.create(DOC)
        journal = GatedJournal(bus)
        hub = make_hub(store, bus, journal, Spool(tmp_path, segment_bytes=1))
        await hub.start()
        writer, reader, joiner = Client("w"), Client("r"), Client("j")
        await writer.connect(hub)
        await reader.connect(hub)
        await settle()
        writer.nodes["a"] = 1
        await settle()
        assert reader.state() == {"a": 1.0}  # in the spool: no need to wait for the journal
        await joiner.connect(hub)
        await settle()
        assert joiner.state() == {"a": 1.0}
        assert await journal.read(DOC) == []
        journal.gate.set()
        await settle()
        assert [u for _, u, _ in await journal.read(DOC)]
        for client in (writer, reader, joiner):
            await client.disconnect()
        await hub.stop()
        assert await stored(store) == {"a": 1.0} and segments(tmp_path, "*") == 0

    asyncio.run(run())


def test_what_a_dead_process_spooled_and_never_journaled_is_stored_by_the_next(tmp_path: Path) -> None:
    async def run() -> None:
        store, bus = MemoryDocumentStore(), MemoryBus()
        store.create(DOC)
        dead_spool = Spool(tmp_path)
        dead = make_hub(store, bus, GatedJournal(bus), dead_spool)  # its journal never answers
        await dead.start()
        writer, reader = Client("w"), Client("r")
        await writer.connect(dead)
        await reader.connect(dead)
        writer.nodes["seen"] = 1
        await settle()
        assert reader.state() == {"seen": 1.0}
        dead_spool.close(remove=False)  # killed: its locks go, its segments stay ...
        await dead.bus.unsubscribe(dead.keys.document_channel(DOC))  # ... and it hears nothing
        watcher = Client("watch")
        survivor = make_hub(store, bus, MemoryJournal(bus.attach()), Spool(tmp_path))
        await watcher.connect(survivor)  # a room open here before the sweep gets it too
        await settle()
        assert watcher.state() == {}
        await survivor.sweep()
        await settle()
        assert await stored(store) == {"seen": 1.0} and watcher.state() == {"seen": 1.0}
        assert survivor.metrics.spool_recovered == 1 and segments(tmp_path) == 0
        restarted = make_hub(store, bus, MemoryJournal(bus.attach()), Spool(tmp_path))
        await restarted.start()  # nothing left to recover
        assert restarted.metrics.spool_recovered == 0

    asyncio.run(run())


def test_updates_the_journal_refused_stay_in_the_spool_until_stored(tmp_path: Path) -> None:
    async def run() -> None:
        store, bus = MemoryDocumentStore(), MemoryBus()
        store.create(DOC)
        journal = MemoryJournal(bus.attach())
        hub = make_hub(store, bus, journal, Spool(tmp_path, segment_bytes=1))
        await hub.start()
        writer, reader = Client("w"), Client("r")
        await writer.connect(hub)
        await reader.connect(hub)
        journal.fail = True
        writer.nodes["refused"] = 1
        await settle()
        journal.fail = False
        writer.nodes["later"] = 2
        await settle()
        assert reader.state() == {"refused": 1.0, "later": 2.0}
        assert segments(tmp_path) == 2  # "refused" is in no store yet: its segment stays
        await hub.flush()
        writer.nodes["after"] = 3
        await settle()
        assert segments(tmp_path) == 1

    asyncio.run(run())
