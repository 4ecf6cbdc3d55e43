"""How uvicorn serves Galaxy: its sans-I/O WebSocket protocol, plus a synchronous frame path.

A collaboration update goes to every socket of a room. Through ASGI, each socket costs a send
coroutine, a task switch and its own framing. `GalaxyWebSocketProtocol` offers the app a second
way, as the ASGI extension `galaxy.frames`: a `FrameWriter` (collab/connection.py) whose `write`
hands bytes framed once for all sockets straight to the socket's transport. It refuses (and the
app falls back to `websocket.send`) unless the handshake is done, no close has been sent and no
extension (permessage-deflate) is in use, since compressed frames differ per socket.

Compression is off unless WS_COMPRESSION is set: Yjs updates are small binary messages, and
deflating every one for every socket costs more CPU than it saves bytes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.protocol import State

if TYPE_CHECKING:
    from websockets.http11 import Request

    from collab.connection import FrameWriter
    from server.settings import Settings

EXTENSION = "galaxy.frames"


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


class GalaxyWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's WebSocket protocol with the `galaxy.frames` extension in every scope."""

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        scope: Any = getattr(self, "scope", None)
        if scope is not None and self.response.status_code == 101:
            scope["extensions"][EXTENSION] = {"writer": _Frames(self)}


def frame_writer(scope: Mapping[str, Any]) -> FrameWriter | None:
    """The socket's `FrameWriter`, when its server offers one."""
    extension = (scope.get("extensions") or {}).get(EXTENSION)
    return cast("FrameWriter", extension["writer"]) if extension else None


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
