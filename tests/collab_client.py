"""A small y-websocket client on pycrdt + websockets, as a script or a test would write one."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import websockets
from pycrdt import Doc, Map, TransactionEvent

from collab import protocol


class YClient:
    """Connects, syncs, edits and records everything the server says."""

    def __init__(self, url: str, doc: Doc[Any] | None = None, **connect_options: Any) -> None:
        """`doc`: continue with the document of an earlier connection (a reconnect, offline edits
        included)."""
        self.url = url
        self.connect_options = connect_options
        self.doc: Doc[Any] = doc if doc is not None else Doc()
        self.nodes = self.doc.get("nodes", type=Map)
        self.edges = self.doc.get("edges", type=Map)
        self.meta = self.doc.get("meta", type=Map)
        self.denied: list[str] = []
        self.events: list[dict[str, Any]] = []
        self.awareness: dict[int, Any] = {}
        self.synced = asyncio.Event()
        self.closed = asyncio.Event()
        self.close_code: int | None = None
        self.close_reason = ""
        self._ws: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._applying = False
        self._subscription = self.doc.observe(self._on_change)

    async def connect(self) -> YClient:
        self._ws = await websockets.connect(self.url, max_size=None, **self.connect_options)
        self._reader = asyncio.create_task(self._read())
        await self._send(protocol.sync_step1(self.doc.get_state()))
        return self

    async def wait_synced(self, timeout: float = 10) -> YClient:
        await asyncio.wait_for(self.synced.wait(), timeout)
        return self

    async def wait_closed(self, timeout: float = 10) -> int | None:
        await asyncio.wait_for(self.closed.wait(), timeout)
        return self.close_code

    def _on_change(self, event: TransactionEvent) -> None:
        if self._applying or self._ws is None or event.update == b"\x00\x00":
            return
        task = asyncio.get_running_loop().create_task(self._send(protocol.sync_update(event.update)))
        task.add_done_callback(lambda t: t.exception() if not t.cancelled() else None)

    async def _send(self, frame: bytes | str) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            await self._ws.send(frame)

    async def send_raw(self, frame: bytes | str) -> None:
        await self._ws.send(frame)

    async def set_presence(self, client_id: int, clock: int, state: dict[str, Any] | None) -> None:
        await self._send(
            protocol.awareness(protocol.encode_awareness([protocol.AwarenessEntry(client_id, clock, state)]))
        )

    def _apply(self, update: bytes) -> None:
        self._applying = True
        try:
            self.doc.apply_update(update)
        finally:
            self._applying = False

    async def _read(self) -> None:
        try:
            async for frame in self._ws:
                if isinstance(frame, str):  # run events: one, or an array of them in order
                    events = json.loads(frame)
                    self.events.extend(events if isinstance(events, list) else [events])
                    continue
                message = protocol.decode(frame)
                if isinstance(message, protocol.SyncStep1):
                    await self._send(protocol.sync_step2(self.doc.get_update(message.state_vector)))
                elif isinstance(message, protocol.SyncStep2):
                    self._apply(message.update)
                    self.synced.set()
                elif isinstance(message, protocol.SyncUpdate):
                    self._apply(message.update)
                elif isinstance(message, protocol.AuthMessage):
                    self.denied.append(message.reason)
                elif isinstance(message, protocol.AwarenessMessage):
                    for entry in protocol.decode_awareness(message.payload):
                        if entry.state is None:
                            self.awareness.pop(entry.client_id, None)
                        else:
                            self.awareness[entry.client_id] = entry.state
        except websockets.ConnectionClosed:
            pass
        finally:
            if self._ws.close_code is not None:
                self.close_code = self._ws.close_code
                self.close_reason = self._ws.close_reason or ""
            self.closed.set()

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader

    async def reconnect(self, url: str) -> YClient:
        """A new connection (to any process) carrying this client's document."""
        await self.close()
        self.doc.unobserve(self._subscription)
        return await (await YClient(url, doc=self.doc).connect()).wait_synced()

    def snapshot(self) -> dict[str, Any]:
        return {"nodes": self.nodes.to_py(), "edges": self.edges.to_py(), "meta": self.meta.to_py()}


async def eventually(check: Any, timeout: float = 10.0, interval: float = 0.02) -> None:
    """Wait until `check()` is true (it may be async)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(interval)
