"""Coalescing streamed text into progress events: at most one event per interval per node, and
none of the text held back longer than one interval."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable

Emit = Callable[[str], Awaitable[None]]


class Coalescer:
    """Collects text deltas and hands them to `emit` in order, at most once per `interval`.

    A delta arriving after a quiet spell goes out at once; deltas arriving faster are joined and
    go out when the interval since the last emission is over (a timer sends them even if no
    further delta arrives). `close()` sends whatever is left.
    """

    def __init__(self, emit: Emit, interval: float = 0.05) -> None:
        self._emit = emit
        self.interval = interval
        self._buffer: list[str] = []
        self._last = -float("inf")
        self._timer: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self.events = 0

    async def add(self, delta: str) -> None:
        if not delta:
            return
        self._buffer.append(delta)
        if self._timer is not None:
            return
        wait = self._last + self.interval - time.monotonic()
        if wait <= 0:
            await self._flush()
        else:
            self._timer = asyncio.create_task(self._later(wait))

    async def _later(self, wait: float) -> None:
        await asyncio.sleep(wait)
        self._timer = None
        await self._flush()

    async def _flush(self) -> None:
        async with self._lock:
            if not self._buffer:
                return
            text = "".join(self._buffer)
            self._buffer.clear()
            self._last = time.monotonic()
            self.events += 1
            await self._emit(text)

    async def close(self) -> None:
        """Send what is buffered now (cancelling the timer)."""
        if self._timer is not None:
            self._timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._timer
            self._timer = None
        await self._flush()

    def discard(self) -> None:
        """Stop without sending (the node is being cancelled)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._buffer.clear()
