"""One client socket as the collaboration core sees it: an identity and a bounded outbox.

The transport (a Litestar WebSocket, a `websockets` connection, a test double) is anything with
`send` and `close`. Frames are queued without awaiting; a writer task drains the queue. When the
queue holds too many frames or too many bytes the client is too slow to follow the document, so
it is closed (1013: it will reconnect and resync) instead of letting server memory grow. A
client gets at most one sync reply (a whole-document answer to its sync step 1) in flight:
asking again before reading the first costs the server nothing.

Where the server offers it, a connection also has a `FrameWriter`: a synchronous path that
takes a message already framed for the wire. A broadcast frames its message once and writes
those bytes to every socket, with no task switch or per-socket encoding; the byte budget then
applies to what the transport still buffers. Frames go that way only while nothing is queued
for the writer task, so the order on the wire is the order of `enqueue`.
"""

from __future__ import annotations

import asyncio
import struct
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Protocol


class CloseCode(IntEnum):
    """Every code a collaboration socket is closed with. The stock y-websocket client retries
    after 1xxx codes and gives up after 4400-4499, so refusals that retrying cannot fix are 44xx."""

    NORMAL = 1000
    UNSUPPORTED = 1003  # a text frame: the protocol is binary
    INVALID = 1007  # a malformed frame or Yjs update
    TOO_BIG = 1009  # a frame over MAX_WS_MESSAGE_BYTES
    INTERNAL = 1011  # the server could not process a frame
    RESTARTING = 1012
    TRY_AGAIN = 1013  # overloaded (connection caps) or too slow to keep up
    UNAUTHENTICATED = 4401  # not signed in, bad or revoked token, ended session
    FORBIDDEN = 4403  # a cross-site Origin, or removed from the workflow
    NOT_FOUND = 4404  # not a member, or the workflow is gone
    TOO_MANY_REFUSALS = 4429  # kept sending changes a limit refused


# A writer still blocked in `send` this long after the connection was shut is cancelled: the
# peer has stopped reading, and its socket buffers are full.
STUCK_WRITER_GRACE = 1.0


class Transport(Protocol):
    """Where a connection's frames go."""

    async def send(self, data: bytes | str) -> None: ...

    async def close(self, code: int, reason: str) -> None: ...


class FrameWriter(Protocol):
    """A transport's synchronous path for whole messages framed by `websocket_frame`."""

    def write(self, framed: bytes) -> bool:
        """Hand the bytes to the socket now; False when this path is closed to them (the socket
        is closing, or an extension such as compression changes how frames look)."""
        ...

    def buffered(self) -> int:
        """Bytes written here that the socket has not taken yet."""
        ...


def websocket_frame(message: bytes | str) -> bytes:
    """`message` as one unmasked, unfragmented WebSocket frame, as a server sends it (RFC 6455
    §5.2): binary for bytes, text for str."""
    opcode, payload = (0x82, message) if isinstance(message, bytes) else (0x81, message.encode())
    size = len(payload)
    if size < 126:
        return bytes((opcode, size)) + payload
    if size < 1 << 16:
        return struct.pack("!BBH", opcode, 126, size) + payload
    return struct.pack("!BBQ", opcode, 127, size) + payload


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
    max_bytes: int = 16 * 1024 * 1024
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    awareness_clients: set[int] = field(default_factory=set)
    closed: bool = False
    close_code: int | None = None
    on_slow: Callable[[], None] | None = None
    refusals: int = 0  # changes of this client that a limit refused
    presence_tokens: float = 60.0  # the room's presence rate limit, per socket
    presence_at: float = 0.0
    direct: FrameWriter | None = None

    def __post_init__(self) -> None:
        self._queue: asyncio.Queue[bytes | str | None] = asyncio.Queue(self.max_queue)
        self._writer: asyncio.Task[None] | None = None
        self._sending = False  # the writer task holds a frame it has not finished sending
        self._close_reason = ""
        self.queued_bytes = 0
        self._reply_pending = False
        self._reply: bytes | None = None
        self._reply_direct = False  # the pending reply went through `direct`

    def enqueue(self, frame: bytes | str, *, reply: bool = False, framed: bytes | None = None) -> bool:
        """Send a frame without blocking; past the byte or frame budget close the connection as
        too slow. `framed`: the frame as `websocket_frame` makes it, when the caller made it
        once for many connections.

        `reply`: the sync reply claimed with `claim_reply`; the claim ends when it is sent."""
        if self.closed:
            return False
        if self.direct is not None and not self._sending and self._queue.empty():
            if self.direct.buffered() + len(frame) > self.max_bytes:
                return self._too_slow()
            if self.direct.write(framed if framed is not None else websocket_frame(frame)):
                if reply:
                    self._reply_direct = True
                return True
        if self.queued_bytes + len(frame) > self.max_bytes:
            return self._too_slow()
        try:
            self._queue.put_nowait(frame)
        except asyncio.QueueFull:
            return self._too_slow()
        self.queued_bytes += len(frame)
        if reply and isinstance(frame, bytes):
            self._reply = frame
        return True

    def claim_reply(self) -> bool:
        """Reserve this client's one sync reply in flight; False while an earlier one is unsent."""
        if self._reply_pending and self._reply_direct and self.direct is not None and not self.direct.buffered():
            self._reply_pending = self._reply_direct = False  # the socket took all of it
        if self._reply_pending:
            return False
        self._reply_pending = True
        return True

    def _too_slow(self) -> bool:
        if self.on_slow is not None:
            self.on_slow()
        self.shut(CloseCode.TRY_AGAIN, "too slow to keep up; reconnect to resync")
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
        self.queued_bytes = 0
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
                self._sending = True
                await self.transport.send(frame)
                self._sending = False
                self.queued_bytes -= len(frame)
                if frame is self._reply:
                    self._reply, self._reply_pending = None, False
        except asyncio.CancelledError:
            if not self.closed:
                raise
        finally:
            if self.close_code is not None:
                await asyncio.shield(self.transport.close(self.close_code, self._close_reason))
