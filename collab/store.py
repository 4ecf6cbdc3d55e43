"""Where documents live between process restarts."""

from __future__ import annotations

from typing import Protocol

from pycrdt import Doc, merge_updates


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
        doc = load_document(await self.load(doc_id))
        self.snapshots[doc_id] = doc.get_update()
        self.logs[doc_id] = []

    async def save_version(self, doc_id: str, state: bytes, name: str, author: str | None) -> None:
        self.versions.setdefault(doc_id, []).append((name, state))
