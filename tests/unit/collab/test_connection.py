"""A connection's outbox is bounded: a client that stops reading is closed, never buffered."""

from __future__ import annotations

import asyncio

import pytest

from collab.connection import CloseCode, Connection, Identity

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
