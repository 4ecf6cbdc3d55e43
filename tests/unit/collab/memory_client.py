"""An in-memory Yjs client and helpers for the hub's unit tests."""

from __future__ import annotations

import asyncio
from typing import Any

from pycrdt import Doc, Map, TransactionEvent

from collab import protocol
from collab.connection import Connection, Identity
from collab.hub import Hub
from collab.room import Room

DOC = "doc-1"


class Client:
    """A Yjs client whose socket is a pair of in-memory queues."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.doc: Doc[Any] = Doc()
        self.nodes = self.doc.get("nodes", type=Map)
        self.room: Room | None = None
        self.connection: Connection | None = None
        self.hub: Hub | None = None
        self._applying = False
        self.doc.observe(self._changed)

    # transport side, called by the connection's writer
    async def send(self, data: bytes | str) -> None:
        if isinstance(data, str):
            return
        message = protocol.decode(data)
        if isinstance(message, protocol.SyncStep1):
            self._to_server(protocol.sync_step2(self.doc.get_update(message.state_vector)))
        elif isinstance(message, protocol.SyncStep2 | protocol.SyncUpdate):
            self._applying = True
            try:
                self.doc.apply_update(message.update)
            finally:
                self._applying = False

    async def close(self, code: int, reason: str) -> None:
        pass

    def _changed(self, event: TransactionEvent) -> None:
        if not self._applying:
            self._to_server(protocol.sync_update(event.update))

    def _to_server(self, frame: bytes) -> None:
        if self.room is not None and self.connection is not None:
            self.room.receive(self.connection, frame)

    async def connect(self, hub: Hub) -> None:
        self.hub = hub
        self.connection = Connection(self, Identity(self.name, self.name, True), max_queue=100_000)
        self.writer = asyncio.create_task(self.connection.run_writer())
        self.room = await hub.join(DOC, self.connection)
        self._to_server(protocol.sync_step1(self.doc.get_state()))

    async def disconnect(self) -> None:
        if self.room is None or self.connection is None or self.hub is None:
            return
        self.hub.leave(self.room, self.connection)
        self.connection.shut(1000, "bye")
        await self.writer
        self.room = self.connection = None

    def state(self) -> dict[str, Any]:
        return self.nodes.to_py() or {}


async def settle() -> None:
    for _ in range(30):
        await asyncio.sleep(0)
