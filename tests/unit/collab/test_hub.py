"""The hub's promises one at a time, on in-memory twins: an update is journaled before anyone
sees it, a room that opens is known to the others at once, and the sweep stores what a dead
process left in the journal."""

from __future__ import annotations

import asyncio

from pycrdt import Map

from collab.bus import MemoryBus
from collab.hub import Hub
from collab.journal import Append, MemoryJournal
from collab.keys import CollabKeys
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


def make_hub(store: MemoryDocumentStore, bus: MemoryBus, journal: MemoryJournal, **options: float) -> Hub:
    return Hub(store, bus.attach(), CollabKeys("t"), journal=journal, unload_after=3600, **options)


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
