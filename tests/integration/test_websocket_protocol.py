"""The `galaxy.frames` extension of Galaxy's uvicorn WebSocket protocol, against real sockets."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest
from websockets.sync.client import connect

from collab.connection import websocket_frame
from server.websocket_protocol import DIRECT_PER_READ, EXTENSION, GalaxyWebSocketProtocol
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


class ReaderApp:
    """Reads `through_asgi` messages with `receive`, lets more queue up, then listens through the
    extension while still reading whatever ASGI hands it; records every message and its way."""

    def __init__(self, through_asgi: int) -> None:
        self.through_asgi = through_asgi
        self.got: list[tuple[str, bytes]] = []
        self.listening = threading.Event()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        inbox = scope["extensions"][EXTENSION]["reader"]
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        while len(self.got) < self.through_asgi:
            self.got.append(("asgi", (await receive())["bytes"]))
        await asyncio.sleep(0.3)  # the client's next messages wait in uvicorn meanwhile
        inbox.listen(lambda data: self.got.append(("direct", data)))
        self.listening.set()
        while (message := await receive())["type"] != "websocket.disconnect":
            self.got.append(("asgi", message.get("bytes") or message["text"].encode()))


def _wait_for(predicate: Any) -> None:
    deadline = time.monotonic() + 10
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_binary_messages_reach_a_listener_as_they_arrive_in_wire_order_with_those_queued_before() -> None:
    app = ReaderApp(through_asgi=5)
    with serve_in_thread(app, ws=GalaxyWebSocketProtocol, ws_per_message_deflate=False, lifespan="off") as url:
        with connect(url.replace("http", "ws"), open_timeout=10) as socket:
            for number in range(40):  # before the app listens: five read by it, the rest queued
                socket.send(b"%d" % number)
            assert app.listening.wait(10)
            _wait_for(lambda: len(app.got) == 40)
            for number in range(40, 60):  # one at a time, each read alone: all straight through
                socket.send(b"%d" % number)
                _wait_for(lambda n=number: len(app.got) == n + 1)
            socket.send("text is not for the listener")
            _wait_for(lambda: len(app.got) == 61)
            # A burst in one write: one read of the socket hands DIRECT_PER_READ messages over,
            # and the rest wait in the queue, so one client cannot hold the loop for its burst.
            for number in range(60, 160):
                socket.protocol.send_binary(b"%d" % number)
            socket.socket.sendall(b"".join(socket.protocol.data_to_send()))
            _wait_for(lambda: len(app.got) == 161)
    payloads = [payload for _, payload in app.got]
    assert payloads == [b"%d" % n for n in range(60)] + [b"text is not for the listener"] + [
        b"%d" % n for n in range(60, 160)
    ]
    ways = [way for way, _ in app.got]
    assert ways[:5] == ["asgi"] * 5
    assert ways[40:60] == ["direct"] * 20
    assert ways[60] == "asgi"
    burst = ways[61:]
    assert 1 <= burst.count("direct") and burst.count("asgi") >= 100 - 2 * DIRECT_PER_READ


def test_once_the_listener_is_taken_away_messages_go_through_asgi_again() -> None:
    class App:
        def __init__(self) -> None:
            self.got: list[tuple[str, bytes]] = []

        async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
            inbox = scope["extensions"][EXTENSION]["reader"]

            def take(data: bytes) -> None:
                self.got.append(("direct", data))
                if data == b"enough":
                    inbox.listen(None)

            await receive()
            await send({"type": "websocket.accept"})
            inbox.listen(take)
            while (message := await receive())["type"] != "websocket.disconnect":
                self.got.append(("asgi", message["bytes"]))

    app = App()
    with serve_in_thread(app, ws=GalaxyWebSocketProtocol, ws_per_message_deflate=False, lifespan="off") as url:
        with connect(url.replace("http", "ws"), open_timeout=10) as socket:
            for payload in (b"one", b"enough", b"two"):
                socket.send(payload)
            _wait_for(lambda: len(app.got) == 3)
    assert app.got == [("direct", b"one"), ("direct", b"enough"), ("asgi", b"two")]
