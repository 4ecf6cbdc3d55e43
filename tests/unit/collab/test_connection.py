"""A connection's outbox is bounded: a client that stops reading is closed, never buffered."""

from __future__ import annotations

import asyncio

import pytest
from websockets.frames import Frame, Opcode
from websockets.protocol import Protocol, Side, State

from collab.connection import CloseCode, Connection, Identity, websocket_frame

pytestmark = pytest.mark.anyio


class StalledTransport:
    """A peer whose socket buffers are full: every send blocks until released."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.sent: list[bytes | str] = []
        self.closed: tuple[int, str] | None = None

    async def send(self, data: bytes | str) -> None:
        await self.release.wait()
        self.sent.append(data)

    async def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)


async def test_overflow_closes_the_connection_as_too_slow() -> None:
    transport = StalledTransport()
    connection = Connection(transport, Identity("u", "U", True), max_queue=4)
    writer = asyncio.create_task(connection.run_writer())
    connection.enqueue(b"first")
    await asyncio.sleep(0)  # the writer takes it and blocks in send()
    accepted = [connection.enqueue(b"frame") for _ in range(9)]
    assert accepted == [True] * 4 + [False] * 5  # one in flight, four queued, then too slow
    assert connection.closed and connection.close_code == CloseCode.TRY_AGAIN
    # The writer is stuck in send(); it is cancelled after a grace period and the socket closed.
    await asyncio.wait_for(writer, timeout=3)
    assert transport.closed is not None and transport.closed[0] == CloseCode.TRY_AGAIN
    assert not connection.enqueue(b"late")


async def test_a_reading_client_gets_everything_in_order() -> None:
    transport = StalledTransport()
    transport.release.set()
    connection = Connection(transport, Identity("u", "U", True), max_queue=4)
    writer = asyncio.create_task(connection.run_writer())
    for i in range(100):
        assert connection.enqueue(f"{i}")
        await asyncio.sleep(0)
    connection.shut(1000, "done")
    await writer
    assert transport.sent == [f"{i}" for i in range(100)]
    assert transport.closed == (1000, "done")


class Socket:
    """A `FrameWriter` over a socket whose reader takes `drain()`ed bytes only."""

    def __init__(self, *, open_: bool = True) -> None:
        self.open = open_
        self.written: list[bytes] = []
        self.pending = 0

    def write(self, framed: bytes) -> bool:
        if not self.open:
            return False
        self.written.append(framed)
        self.pending += len(framed)
        return True

    def buffered(self) -> int:
        return self.pending

    def drain(self) -> None:
        self.pending = 0


def frames_of(written: list[bytes]) -> list[bytes | str]:
    """Parse what a server wrote with the `websockets` client protocol."""
    client = Protocol(Side.CLIENT, state=State.OPEN, max_size=None)
    client.receive_data(b"".join(written))
    return [
        event.data if event.opcode is Opcode.BINARY else event.data.decode()
        for event in client.events_received()
        if isinstance(event, Frame)
    ]


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65_535, 65_536, 1_000_000])
def test_websocket_frames_read_back_as_sent(size: int) -> None:
    message = bytes(i % 251 for i in range(size))
    assert frames_of([websocket_frame(message), websocket_frame("héllo" * size)]) == [message, "héllo" * size]


async def test_frames_go_straight_to_the_socket_in_order() -> None:
    transport, socket = StalledTransport(), Socket()
    connection = Connection(transport, Identity("u", "U", True), direct=socket)
    writer = asyncio.create_task(connection.run_writer())
    framed = websocket_frame(b"shared")
    assert connection.enqueue(b"shared", framed=framed) and connection.enqueue("text")
    assert socket.written[0] is framed  # framed once by the caller, not again per socket
    assert frames_of(socket.written) == [b"shared", "text"] and transport.sent == []
    connection.shut(1000, "done")
    await writer


async def test_a_refused_direct_write_falls_back_to_the_queue_and_keeps_the_order() -> None:
    transport, socket = StalledTransport(), Socket(open_=False)
    connection = Connection(transport, Identity("u", "U", True), direct=socket)
    writer = asyncio.create_task(connection.run_writer())
    connection.enqueue(b"one")
    await asyncio.sleep(0)  # the writer holds "one", blocked in send()
    socket.open = True
    connection.enqueue(b"two")  # must not overtake "one"
    assert socket.written == []
    transport.release.set()
    await asyncio.sleep(0.01)
    assert transport.sent == [b"one", b"two"]
    connection.enqueue(b"three")  # the queue is empty again: straight to the socket
    assert frames_of(socket.written) == [b"three"]
    connection.shut(1000, "done")
    await writer


async def test_a_socket_that_buffers_past_the_budget_is_closed_as_too_slow() -> None:
    transport, socket = StalledTransport(), Socket()
    connection = Connection(transport, Identity("u", "U", True), max_bytes=10_000, direct=socket)
    writer = asyncio.create_task(connection.run_writer())
    accepted = [connection.enqueue(b"x" * 3_000) for _ in range(5)]
    assert accepted == [True, True, True, False, False]
    assert connection.closed and connection.close_code == CloseCode.TRY_AGAIN
    await asyncio.wait_for(writer, timeout=3)
    assert transport.closed is not None and transport.closed[0] == CloseCode.TRY_AGAIN


async def test_a_direct_sync_reply_is_pending_until_the_socket_took_it() -> None:
    socket = Socket()
    connection = Connection(StalledTransport(), Identity("u", "U", True), direct=socket)
    assert connection.claim_reply()
    connection.enqueue(b"reply", reply=True)
    assert not connection.claim_reply()  # still in the socket's buffer
    socket.drain()
    assert connection.claim_reply()
