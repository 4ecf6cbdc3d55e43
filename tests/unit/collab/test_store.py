"""Compaction with edits stored out of causal order (each process stores its own clients' edits)."""

from __future__ import annotations

import asyncio

from pycrdt import Doc, Map

from collab.store import MemoryDocumentStore, fold, load_document

DOC = "doc"


def two_processes() -> tuple[Doc, Doc]:  # type: ignore[type-arg]
    """A client on each process, both with the node's first position."""
    first: Doc = Doc()  # type: ignore[type-arg]
    first.get("nodes", type=Map)["n1"] = {"x": 0}
    second: Doc = Doc()  # type: ignore[type-arg]
    second.apply_update(first.get_update())
    return first, second


def compacted_between(later: bytes, earlier: bytes) -> dict[str, object]:
    """Store `later` first, compact, then store `earlier` and compact again: the stored nodes."""

    async def run() -> dict[str, object]:
        store = MemoryDocumentStore()
        store.create(DOC, Doc().get_update())
        await store.append_many({DOC: [(later, None)]})
        await store.compact(DOC)
        await store.append_many({DOC: [(earlier, None)]})
        middle = load_document(await store.load(DOC)).get("nodes", type=Map).to_py()
        await store.compact(DOC)
        stored = load_document(await store.load(DOC)).get("nodes", type=Map).to_py()
        assert stored == middle
        assert store.logs[DOC] == []  # everything arrived: nothing is left over
        return stored

    return asyncio.run(run())


def test_compaction_keeps_an_edit_whose_predecessor_is_not_stored_yet() -> None:
    first, second = two_processes()
    earlier = first.get_update()
    state = second.get_state()
    with second.transaction():
        second.get("nodes", type=Map)["n1"] = {"x": 5}  # moves the node the other client placed
        second.get("nodes", type=Map)["n2"] = {"x": 1}
    later = second.get_update(state)
    assert compacted_between(later, earlier) == {"n1": {"x": 5.0}, "n2": {"x": 1.0}}


def test_compaction_keeps_a_deletion_of_an_item_not_stored_yet() -> None:
    first, second = two_processes()
    earlier = first.get_update()
    state = second.get_state()
    del second.get("nodes", type=Map)["n1"]
    later = second.get_update(state)
    assert compacted_between(later, earlier) == {}


def test_a_complete_log_folds_into_the_snapshot_alone() -> None:
    first, second = two_processes()
    second.get("nodes", type=Map)["n2"] = {"x": 1}
    doc, rest = fold([first.get_update(), second.get_update()])
    assert rest is None
    assert doc.get("nodes", type=Map).to_py() == {"n1": {"x": 0.0}, "n2": {"x": 1.0}}
