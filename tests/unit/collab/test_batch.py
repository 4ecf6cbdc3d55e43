"""Asks answered together: one call for the asks of one turn, the asks made meanwhile in the
next, each answer to its own ask, and a failed or cancelled call ending exactly its asks."""

from __future__ import annotations

import asyncio

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from collab.batch import Batch

pytestmark = pytest.mark.anyio


class Calls:
    def __init__(self) -> None:
        self.made: list[list[int]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail: BaseException | None = None

    async def __call__(self, items: list[int]) -> list[int]:
        self.made.append(items)
        await self.gate.wait()
        if self.fail is not None:
            raise self.fail
        return [item * 10 for item in items]


async def held_call(calls: Calls, batch: Batch[int, int]) -> asyncio.Future[int]:
    """An ask whose call is under way and held there until `calls.gate` opens."""
    calls.gate.clear()
    first = asyncio.ensure_future(batch.ask(1))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert calls.made[-1] == [1]
    return first


async def test_asks_of_one_turn_go_in_one_call_and_each_gets_its_answer() -> None:
    calls = Calls()
    batch = Batch(calls)
    assert await asyncio.gather(*(batch.ask(i) for i in range(5))) == [0, 10, 20, 30, 40]
    assert calls.made == [[0, 1, 2, 3, 4]]


async def test_asks_made_while_a_call_is_under_way_go_together_in_the_next() -> None:
    calls = Calls()
    batch = Batch(calls)
    first = await held_call(calls, batch)
    later = [asyncio.ensure_future(batch.ask(i)) for i in (2, 3, 4)]
    await asyncio.sleep(0)
    calls.gate.set()
    assert await asyncio.gather(first, *later) == [10, 20, 30, 40]
    assert calls.made == [[1], [2, 3, 4]]


async def test_a_failed_call_fails_its_asks_and_the_next_call_still_runs() -> None:
    calls = Calls()
    batch = Batch(calls)
    calls.fail = RedisConnectionError("gone")
    results = await asyncio.gather(batch.ask(1), batch.ask(2), return_exceptions=True)
    assert all(isinstance(result, RedisConnectionError) for result in results)
    calls.fail = OSError("reset")
    with pytest.raises(OSError):
        await batch.ask(3)
    calls.fail = None
    assert await batch.ask(4) == 40


async def test_cancelling_the_call_cancels_its_asks_and_those_waiting_behind_it() -> None:
    calls = Calls()
    batch = Batch(calls)
    first = await held_call(calls, batch)
    waiting = asyncio.ensure_future(batch.ask(2))
    await asyncio.sleep(0)
    sender = batch._sender
    assert sender is not None
    sender.cancel()
    results = await asyncio.gather(first, waiting, return_exceptions=True)
    assert all(isinstance(result, asyncio.CancelledError) for result in results)
    calls.gate.set()
    assert await batch.ask(3) == 30  # a new call for a new ask
