"""Many callers' requests answered by one call: one round trip and one command (or statement)
for a burst, rather than one each. Used where many sockets or rooms ask the same thing at
once: the connection caps, the journal and the store as rooms open."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

Item = TypeVar("Item")
Answer = TypeVar("Answer")


class Batch(Generic[Item, Answer]):
    """Asks answered together by one call: `send(items)` returns an answer per item, in order.
    Asks made while a call is under way wait for it and go together in the next (those of one
    turn of the event loop go together anyway). A failed call fails its asks with its error; a
    cancelled one cancels them."""

    def __init__(self, send: Callable[[list[Item]], Awaitable[list[Answer]]]) -> None:
        self._send = send
        self._asking: list[tuple[Item, asyncio.Future[Answer]]] = []
        self._sender: asyncio.Task[None] | None = None

    @property
    def idle(self) -> bool:
        """No call under way and nothing asked."""
        return self._sender is None and not self._asking

    async def ask(self, item: Item) -> Answer:
        answer: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self._asking.append((item, answer))
        if self._sender is None:
            self._sender = asyncio.create_task(self._send_all())
        return await answer

    async def _send_all(self) -> None:
        asked: list[tuple[Item, asyncio.Future[Answer]]] = []
        try:
            while self._asking:
                asked, self._asking = self._asking, []
                try:
                    answers = await self._send([item for item, _ in asked])
                except Exception as err:
                    for _, answer in asked:
                        if not answer.done():
                            answer.set_exception(err)
                    continue
                for (_, answer), result in zip(asked, answers, strict=True):
                    if not answer.done():
                        answer.set_result(result)
        finally:
            self._sender = None
            for _, answer in asked + self._asking:  # cancelled: so are the asks it held
                answer.cancel()
            self._asking = []
