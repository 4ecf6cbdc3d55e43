"""Document work gives the same answers inline and in a worker process."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from pycrdt import Map

from engine.graph import Graph
from engine.registry import builtin_registry
from server.settings import PROJECT_ROOT
from server.workflows import codec, document
from server.workflows.templates import marketing_kit

REGISTRY = builtin_registry()
pytestmark = pytest.mark.anyio


def _kit(name: str = "Kit\x00 \u202eevil") -> bytes:
    return document.encode_state(document.new_document(marketing_kit({}), name, REGISTRY))


async def test_worker_process_and_inline_agree() -> None:
    inline, pooled = codec.DocumentCodec(), codec.DocumentCodec(inline_bytes=0)
    try:
        state = _kit()
        empty = document.encode_state(document.new_document(Graph(), "Empty", REGISTRY))
        restore = codec.Restore(snapshot=empty, specs=document.spec_table(REGISTRY))
        for work in (inline, pooled):
            view = await work.read([state])
            assert view.name == "Kit   evil" and view.graph == marketing_kit({})
            snap = await work.snapshot([state])
            assert (snap.nodes, snap.edges) == (len(marketing_kit({}).nodes), len(marketing_kit({}).edges))
            renamed = await work.edit([state], codec.Rename("Renamed"))
            assert renamed.name == "Renamed"
            emptied = await work.edit([state, renamed.update], restore)
            after = document.decode_state(state, [renamed.update, emptied.update])
            assert len(after.get("nodes", type=Map)) == 0 and document.document_name(after) == "Renamed"
        assert pooled._pool is not None and inline._pool is None
    finally:
        pooled.close()


PARENT = """
import asyncio, sys, time
from server.workflows import codec
from tests.unit.server.test_codec import _kit

async def main() -> None:
    work = codec.DocumentCodec(inline_bytes=0)
    await work.read([_kit()])
    print(*work._pool._processes, flush=True)
    time.sleep(60)

asyncio.run(main())
"""


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as status:
            return any(line.startswith("State:") and "Z" in line for line in status)
    except FileNotFoundError:
        return True


def test_workers_exit_when_the_web_process_is_killed() -> None:
    command = [sys.executable, "-c", PARENT]
    with subprocess.Popen(command, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, text=True) as parent:
        try:
            assert parent.stdout is not None
            workers = [int(pid) for pid in parent.stdout.readline().split()]
            assert workers and not any(_gone(pid) for pid in workers)
        finally:
            parent.kill()
    deadline = time.monotonic() + 15
    while not all(_gone(pid) for pid in workers):
        assert time.monotonic() < deadline, "a document worker outlived its web process"
        time.sleep(0.1)
