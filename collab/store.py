"""Where documents live between process restarts."""

from __future__ import annotations

import bisect
from typing import Protocol

from pycrdt import Doc, get_update, merge_updates

from collab.updates import delete_spans


def load_document(parts: list[bytes]) -> Doc:  # type: ignore[type-arg]
    """A Doc from stored parts, merged first and applied once.

    Log rows are in storage order, which is not causal order across processes; applied one by
    one, yrs can integrate a later map entry of a client before an earlier one and then lose a
    concurrent entry that depended on it. A merged update is integrated as a whole.
    """
    doc: Doc = Doc()  # type: ignore[type-arg]
    if len(parts) == 1:
        doc.apply_update(parts[0])
    elif parts:
        doc.apply_update(merge_updates(*parts))
    return doc


def fold(parts: list[bytes]) -> tuple[Doc, bytes | None]:  # type: ignore[type-arg]
    """Compaction: the document the stored parts make, and what of them it could not integrate
    yet (None when nothing), which must stay in the log.

    Each process stores only its own clients' edits, so the log can hold an edit before the one
    it builds on (another process has not flushed it yet). yrs keeps such an edit pending and
    leaves it out of `doc.get_update()`: a snapshot alone would drop it, and with it every later
    edit of the same client (their clocks would have a gap).
    """
    merged = parts[0] if len(parts) == 1 else merge_updates(*parts)
    doc: Doc = Doc()  # type: ignore[type-arg]
    doc.apply_update(merged)
    rest = get_update(merged, doc.get_state())
    if rest[:1] != b"\x00":  # structs waiting for their predecessors
        return doc, rest
    if not _covers(delete_spans(doc.get_update(doc.get_state())), delete_spans(rest)):
        return doc, rest  # deletions of items the document does not have yet
    return doc, None


def _covers(have: dict[int, list[tuple[int, int]]], wanted: dict[int, list[tuple[int, int]]]) -> bool:
    for client, ranges in wanted.items():
        spans = have.get(client, [])
        for start, end in ranges:
            index = bisect.bisect_right(spans, (start, float("inf"))) - 1
            if index < 0 or spans[index][1] < end:
                return False
    return True


class DocumentGone(Exception):
    """The document does not exist (or no longer does)."""


class DocumentStore(Protocol):
    """Durable storage of Yjs documents as a snapshot plus an append-only update log."""

    async def load(self, doc_id: str) -> list[bytes]:
        """The snapshot and every logged update after it, in order; raise DocumentGone if none."""
        ...

    async def append_many(self, batches: dict[str, list[tuple[bytes, str | None]]]) -> set[str]:
        """Append `(update, author id)` pairs to the logs of several documents in one write; return
        the ids of documents that are gone (their updates are dropped)."""
        ...

    async def compact(self, doc_id: str) -> None:
        """Fold the log into the snapshot (under a per-document lock)."""
        ...

    async def save_version(self, doc_id: str, state: bytes, name: str, author: str | None) -> None:
        """Keep a named or automatic version snapshot of the document."""
        ...


class MemoryDocumentStore:
    """In-memory twin of the Postgres store, for unit tests."""

    def __init__(self) -> None:
        self.logs: dict[str, list[tuple[bytes, str | None]]] = {}
        self.snapshots: dict[str, bytes] = {}
        self.versions: dict[str, list[tuple[str, bytes]]] = {}
        self.appends = 0

    def create(self, doc_id: str, snapshot: bytes = b"") -> None:
        self.snapshots[doc_id] = snapshot
        self.logs[doc_id] = []

    async def load(self, doc_id: str) -> list[bytes]:
        if doc_id not in self.snapshots:
            raise DocumentGone(doc_id)
        parts = [self.snapshots[doc_id]] if self.snapshots[doc_id] else []
        return parts + [update for update, _ in self.logs[doc_id]]

    async def append_many(self, batches: dict[str, list[tuple[bytes, str | None]]]) -> set[str]:
        gone = {doc_id for doc_id in batches if doc_id not in self.logs}
        self.appends += 1
        for doc_id, updates in batches.items():
            if doc_id not in gone:
                self.logs[doc_id].extend(updates)
        return gone

    async def compact(self, doc_id: str) -> None:
        parts = await self.load(doc_id)
        if not parts:
            return
        doc, rest = fold(parts)
        self.snapshots[doc_id] = doc.get_update()
        self.logs[doc_id] = [(rest, None)] if rest is not None else []

    async def save_version(self, doc_id: str, state: bytes, name: str, author: str | None) -> None:
        self.versions.setdefault(doc_id, []).append((name, state))
