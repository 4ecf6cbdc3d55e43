"""The `galaxy.frames` extension of Galaxy's uvicorn WebSocket protocol, against real sockets."""

from __future__ import annotations

from typing import Any

import pytest
from websockets.sync.client import connect

from collab.connection import websocket_frame
from server.websocket_protocol import EXTENSION, GalaxyWebSocketProtocol
from tests.support import serve_in_thread


class FramesApp:
    """Accepts a socket, writes one frame through the extension and one through ASGI."""

    def __init__(self) -> None:
        self.before_accept: bool | None = None
        self.after_accept: bool | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "websocket"
        writer = scope["extensions"][EXTENSION]["writer"]
        await receive()  # websocket.connect
        self.before_accept = writer.write(websocket_frame(b"too early"))
        await send({"type": "websocket.accept"})
        self.after_accept = writer.write(websocket_frame(b"direct"))
        await send({"type": "websocket.send", "bytes": b"through asgi"})
        await send({"type": "websocket.send", "text": "text"})
        while (await receive())["type"] != "websocket.disconnect":
            pass


def _received(url: str, count: int, compression: str | None) -> list[bytes | str]:
    with connect(url.replace("http", "ws"), compression=compression, open_timeout=10) as socket:
        return [socket.recv(timeout=10) for _ in range(count)]


def test_frames_written_directly_arrive_in_order_with_asgi_sends() -> None:
    app = FramesApp()
    with serve_in_thread(app, ws=GalaxyWebSocketProtocol, ws_per_message_deflate=False, lifespan="off") as url:
        # The client offers permessage-deflate; the server declines it, so frames are shared bytes.
        assert _received(url, 3, "deflate") == [b"direct", b"through asgi", "text"]
    assert app.before_accept is False and app.after_accept is True


@pytest.mark.parametrize("compression", ["deflate", None])
def test_with_compression_on_offer_the_direct_path_steps_aside_only_when_it_is_used(compression: str | None) -> None:
    app = FramesApp()
    with serve_in_thread(app, ws=GalaxyWebSocketProtocol, ws_per_message_deflate=True, lifespan="off") as url:
        expected: list[bytes | str] = [b"through asgi", "text"] if compression else [b"direct", b"through asgi", "text"]
        assert _received(url, len(expected), compression) == expected
    assert app.after_accept is (compression is None)
