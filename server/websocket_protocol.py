"""How uvicorn serves Galaxy: its sans-I/O WebSocket protocol, plus synchronous frame paths.

A collaboration update goes to every socket of a room. Through ASGI, each socket costs a send
coroutine, a task switch and its own framing. `GalaxyWebSocketProtocol` offers the app a second
way, as the ASGI extension `galaxy.frames`: a `FrameWriter` (collab/connection.py) whose `write`
hands bytes framed once for all sockets straight to the socket's transport. It refuses (and the
app falls back to `websocket.send`) unless the handshake is done, no close has been sent and no
extension (permessage-deflate) is in use, since compressed frames differ per socket.

Incoming, each ASGI `websocket.receive` costs a queue, a task switch, and uvicorn pausing and
resuming the socket's reads (two system calls) around every message. The extension's `reader`
lets the app take binary messages as they are parsed instead: `listen(callback)` has the
callback called with each whole binary message, in order, from the protocol's `data_received`.
Anything else — text, the disconnect, messages that came before the app listened and are still
queued, and messages past `DIRECT_PER_READ` in one read of the socket (so one client's burst
does not hold the event loop from the others) — still goes through the queue, and the app reads
it with `receive` as before. A message goes straight to the callback only while the queue is
empty, so the order between the two ways is the order on the wire.

Compression is off unless WS_COMPRESSION is set: Yjs updates are small binary messages, and
deflating every one for every socket costs more CPU than it saves bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol, cast

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.protocol import State

if TYPE_CHECKING:
    from websockets.frames import Frame
    from websockets.http11 import Request

    from collab.connection import FrameWriter
    from server.settings import Settings

EXTENSION = "galaxy.frames"
# Binary messages one read of a socket hands straight to the app; the rest of the read is queued.
DIRECT_PER_READ = 16


class _Frames:
    """The `FrameWriter` of one socket."""

    __slots__ = ("_protocol",)

    def __init__(self, protocol: GalaxyWebSocketProtocol) -> None:
        self._protocol = protocol

    def write(self, framed: bytes) -> bool:
        protocol = self._protocol
        if (
            protocol.conn.state is not State.OPEN
            or protocol.close_sent
            or protocol.disconnected
            or protocol.conn.extensions
            or protocol.transport.is_closing()
        ):
            return False
        protocol.transport.write(framed)
        return True

    def buffered(self) -> int:
        return self._protocol.transport.get_write_buffer_size()


class FrameReader(Protocol):
    """A socket's synchronous path for incoming binary messages."""

    def listen(self, callback: Callable[[bytes], None] | None) -> None:
        """Call `callback` with each binary message from now on (None: queue them again).
        The callback must not raise."""
        ...


class _Inbox:
    """Where one socket's binary messages go when the app takes them as they arrive."""

    __slots__ = ("_protocol",)

    def __init__(self, protocol: GalaxyWebSocketProtocol) -> None:
        self._protocol = protocol

    def listen(self, callback: Callable[[bytes], None] | None) -> None:
        self._protocol.listener = callback


class GalaxyWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's WebSocket protocol with the `galaxy.frames` extension in every scope."""

    listener: Callable[[bytes], None] | None = None
    _direct_left = 0  # messages this read may still hand to `listener`

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        scope: Any = getattr(self, "scope", None)
        if scope is not None and self.response.status_code == 101:
            scope["extensions"][EXTENSION] = {"writer": _Frames(self), "reader": _Inbox(self)}

    def data_received(self, data: bytes) -> None:
        self._direct_left = DIRECT_PER_READ
        super().data_received(data)

    def handle_bytes(self, event: Frame) -> None:
        listener = self.listener
        if listener is not None and event.fin and self._direct_left > 0 and not self.close_sent and self.queue.empty():
            self._direct_left -= 1
            listener(bytes(event.data))
            return
        super().handle_bytes(event)


def _extension(scope: Mapping[str, Any]) -> dict[str, Any] | None:
    return cast("dict[str, Any] | None", (scope.get("extensions") or {}).get(EXTENSION))


def frame_writer(scope: Mapping[str, Any]) -> FrameWriter | None:
    """The socket's `FrameWriter`, when its server offers one."""
    extension = _extension(scope)
    return cast("FrameWriter", extension["writer"]) if extension else None


def frame_reader(scope: Mapping[str, Any]) -> FrameReader | None:
    """The socket's `FrameReader`, when its server offers one."""
    extension = _extension(scope)
    return cast(FrameReader, extension["reader"]) if extension else None


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """The uvicorn settings `galaxy web` serves with (the tests' servers use them too)."""
    return {
        "ws": GalaxyWebSocketProtocol,
        "ws_per_message_deflate": settings.ws_compression,
        # Larger frames are refused by the app with its own message (MAX_WS_MESSAGE_BYTES).
        "ws_max_size": max(16 * 1024 * 1024, settings.max_ws_message_bytes),
        "proxy_headers": False,  # the app trusts X-Forwarded-For from TRUSTED_PROXIES only
        "log_config": None,
    }
