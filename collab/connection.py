"""One client socket as the collaboration core sees it: an identity and a bounded outbox.

The transport (a Litestar WebSocket, a `websockets` connection, a test double) is anything with
`send` and `close`. Frames are queued without awaiting; a writer task drains the queue. When the
queue is full the client is too slow to follow the document, so it is closed (1013: it will
reconnect and resync) instead of letting server memory grow.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

CLOSE_SLOW_CLIENT = 1013
# A writer still blocked in `send` this long after the connection was shut is cancelled: the
# peer has stopped reading, and its socket buffers are full.
STUCK_WRITER_GRACE = 1.0


class Transport(Protocol):
    """Where a connection's frames go."""

    async def send(self, data: bytes | str) -> None: ...

    async def close(self, code: int, reason: str) -> None: ...


@dataclass
class Identity:
    """Who is on the other end; `can_write` changes when their role does."""

    user_id: str
    name: str
    can_write: bool


@dataclass(eq=False)
class Connection:
    transport: Transport
    identity: Identity
    max_queue: int = 1024
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    awareness_clients: set[int] = field(default_factory=set)
    closed: bool = False
    close_code: int | None = None
    on_slow: Callable[[], None] | None = None

    def __post_init__(self) -> None:
        self._queue: asyncio.Queue[bytes | str | None] = asyncio.Queue(self.max_queue)
        self._writer: asyncio.Task[None] | None = None
        self._close_reason = ""

    def enqueue(self, frame: bytes | str) -> bool:
        """Queue a frame; on overflow close the connection as too slow. Never blocks."""
        if self.closed:
            return False
        try:
            self._queue.put_nowait(frame)
            return True
        except asyncio.QueueFull:
            if self.on_slow is not None:
                self.on_slow()
            self.shut(CLOSE_SLOW_CLIENT, "too slow to keep up; reconnect to resync")
            return False

    def shut(self, code: int, reason: str) -> None:
        """Ask the writer to close the socket after what is already queued is dropped."""
        if self.closed:
            return
        self.closed = True
        self.close_code = code
        self._close_reason = reason
        while not self._queue.empty():
            self._queue.get_nowait()
        self._queue.put_nowait(None)
        if self._writer is not None:
            asyncio.get_running_loop().call_later(STUCK_WRITER_GRACE, self._writer.cancel)

    async def run_writer(self) -> None:
        """Send queued frames until the connection is shut; then close the transport."""
        self._writer = asyncio.current_task()
        try:
            while True:
                frame = await self._queue.get()
                if frame is None:
                    break
                await self.transport.send(frame)
        except asyncio.CancelledError:
            if not self.closed:
                raise
        finally:
            if self.close_code is not None:
                await asyncio.shield(self.transport.close(self.close_code, self._close_reason))
