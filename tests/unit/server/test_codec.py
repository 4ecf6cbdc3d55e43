"""Document work gives the same answers inline and in a worker process."""

from __future__ import annotations

import pytest
from pycrdt import Map

from engine.graph import Graph
from engine.registry import builtin_registry
from server.workflows import codec, document
from server.workflows.templates import marketing_kit

REGISTRY = builtin_registry()
pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _kit(name: str = "Kit\x00 \u202eevil") -> bytes:
    return document.encode_state(document.new_document(marketing_kit(), name, REGISTRY))


async def test_worker_process_and_inline_agree() -> None:
    inline, pooled = codec.DocumentCodec(), codec.DocumentCodec(inline_bytes=0)
    try:
        state = _kit()
        empty = document.encode_state(document.new_document(Graph(), "Empty", REGISTRY))
        restore = codec.Restore(snapshot=empty, specs=document.spec_table(REGISTRY))
        for work in (inline, pooled):
            view = await work.read([state])
            assert view.name == "Kit   evil" and view.graph == marketing_kit()
            snap = await work.snapshot([state])
            assert (snap.nodes, snap.edges) == (len(marketing_kit().nodes), len(marketing_kit().edges))
            renamed = await work.edit([state], codec.Rename("Renamed"))
            assert renamed.name == "Renamed"
            emptied = await work.edit([state, renamed.update], restore)
            after = document.decode_state(state, [renamed.update, emptied.update])
            assert len(after.get("nodes", type=Map)) == 0 and document.document_name(after) == "Renamed"
        assert pooled._pool is not None and inline._pool is None
    finally:
        pooled.close()
