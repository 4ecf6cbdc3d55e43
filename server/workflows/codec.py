"""Workflow documents decoded and edited away from the event loop.

A document of a few MB made of many small entries takes seconds to decode, and pycrdt holds the
GIL while it works, so a thread would stall the event loop just the same. Documents larger
than `inline_bytes` are therefore handled in a small pool of worker processes; small ones (the
common case) are handled inline, where a process hop would cost more than the work.

Everything crossing to a worker is plain data (bytes, msgspec Structs, dicts), and every
function here is total over hostile documents: see `document.py`.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

import msgspec
from prometheus_client import Counter
from pycrdt import Doc, Map

from collab.store import fold
from engine.graph import Graph
from engine.spec import NodeSpec
from server.workflows import document

T = TypeVar("T")
INLINE_BYTES = 32 * 1024


class DocumentView(msgspec.Struct, frozen=True):
    """What the REST endpoints read from a document: its (sanitised) name and graph."""

    name: str
    graph: Graph


class Snapshot(msgspec.Struct, frozen=True):
    """A document as one update, with what a workflow row and a version list show of it: the
    name, and the entries of its `nodes` and `edges` maps."""

    state: bytes
    name: str
    nodes: int
    edges: int
    rest: bytes | None = None  # what the parts hold that `state` cannot integrate yet (collab.store.fold)


class Rename(msgspec.Struct, frozen=True):
    name: str


class Restore(msgspec.Struct, frozen=True):
    """Make the document hold the graph of `snapshot` (a version)."""

    snapshot: bytes
    specs: dict[str, NodeSpec]


Edit = Rename | Restore


class Edited(msgspec.Struct, frozen=True):
    """The Yjs update an edit made, and the document's name after it."""

    update: bytes
    name: str


# --- the work itself (runs inline or in a worker process) ---------------------------------


def _load(parts: list[bytes]) -> Doc[Any]:
    return document.decode_state(parts[0] if parts else None, parts[1:])


def read(parts: list[bytes]) -> DocumentView:
    doc = _load(parts)
    return DocumentView(name=document.document_name(doc), graph=document.document_graph(doc))


def snapshot(parts: list[bytes]) -> Snapshot:
    doc, rest = fold([part for part in parts if part])
    return Snapshot(
        state=document.encode_state(doc),
        name=document.document_name(doc),
        nodes=len(doc.get("nodes", type=Map)),
        edges=len(doc.get("edges", type=Map)),
        rest=rest,
    )


def edit(parts: list[bytes], change: Edit) -> Edited:
    doc = _load(parts)
    before = doc.get_state()
    if isinstance(change, Rename):
        document.set_name(doc, change.name)
    else:
        graph = document.document_graph(_load([change.snapshot]))
        document.replace_graph(doc, graph, change.specs)
    return Edited(update=doc.get_update(before), name=document.document_name(doc))


# --- where it runs -------------------------------------------------------------------------

DOCUMENT_WORK = Counter(
    "galaxy_document_work_total", "Document decodes and edits, by where they ran (inline, process).", ["where"]
)


class DocumentCodec:
    """Runs document work inline when it is small and in worker processes when it is not."""

    def __init__(self, processes: int = 1, inline_bytes: int = INLINE_BYTES) -> None:
        self.processes = processes
        self.inline_bytes = inline_bytes
        self._pool: ProcessPoolExecutor | None = None

    async def run(self, work: Callable[..., T], size: int, *args: Any) -> T:
        """`work(*args)`, off the event loop when `size` (the bytes to decode) is large."""
        if size <= self.inline_bytes:
            DOCUMENT_WORK.labels(where="inline").inc()
            return work(*args)
        DOCUMENT_WORK.labels(where="process").inc()
        if self._pool is None:
            # spawn, not fork: the parent has an event loop and threads a fork would copy mid-step.
            context = multiprocessing.get_context("spawn")
            self._pool = ProcessPoolExecutor(
                max_workers=self.processes, mp_context=context, initializer=_exit_with, initargs=(os.getpid(),)
            )
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, work, *args)
        except BrokenProcessPool:
            # A worker died (killed, out of memory): this call fails, the next one gets a new pool.
            self.close()
            raise

    async def read(self, parts: list[bytes]) -> DocumentView:
        return await self.run(read, _size(parts), parts)

    async def snapshot(self, parts: list[bytes]) -> Snapshot:
        return await self.run(snapshot, _size(parts), parts)

    async def edit(self, parts: list[bytes], change: Edit) -> Edited:
        extra = len(change.snapshot) if isinstance(change, Restore) else 0
        return await self.run(edit, _size(parts) + extra, parts, change)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None


def _exit_with(parent: int) -> None:
    """In a worker: exit when the web process is gone. A worker holds both ends of its task
    queue, so it would otherwise wait forever after its parent was killed (SIGKILL, OOM)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(0)

    threading.Thread(target=watch, daemon=True, name="exit-with-parent").start()


def _size(parts: list[bytes]) -> int:
    return sum(len(p) for p in parts)
