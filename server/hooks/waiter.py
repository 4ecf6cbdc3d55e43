"""`?wait=N`: wait for a run's `run_finished` event on its workflow's event channel.

The worker publishes every run event on `runs:{workflow}` (server/runs/bus.py). A waiter listens
on that channel through its own pub/sub connection (the hub's relays own their subscriptions on
the shared bus), shared by every waiting request of this process: the first waiter of a workflow
subscribes, the last one leaves. Each request registers for its run *before* reading the run's
status once, so a run that finishes in between is seen by one or the other, and Postgres is read
once at the start and once at the end rather than polled.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from uuid import UUID

import msgspec

from collab.bus import RedisBus
from server.keys import RedisKeys


class _Finished(msgspec.Struct):
    type: str
    run_id: str = ""


_decode = msgspec.json.Decoder(_Finished)
_MARK = b'"run_finished"'


class RunWaiter:
    """Lets requests await the end of runs (see the module docstring)."""

    def __init__(self, bus: RedisBus, keys: RedisKeys) -> None:
        self._bus = bus
        self._keys = keys
        self._waiting: dict[str, set[asyncio.Future[None]]] = {}
        self._channels: dict[str, int] = {}
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        await self._bus.start()

    async def stop(self) -> None:
        await self._bus.stop()

    async def wait(
        self, workflow_id: UUID, run_id: UUID, seconds: float, finished: Callable[[], Awaitable[bool]]
    ) -> bool:
        """Whether the run finishes within `seconds`; `finished()` reads its status."""
        channel = self._keys.runs_channel(str(workflow_id))
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(str(run_id), set()).add(future)
        try:
            await self._join(channel)
            try:
                if await finished():
                    return True
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(future, seconds)
                    return True
                return False
            finally:
                await self._leave(channel)
        finally:
            waiting = self._waiting.get(str(run_id))
            if waiting is not None:
                waiting.discard(future)
                if not waiting:
                    del self._waiting[str(run_id)]

    async def _join(self, channel: str) -> None:
        async with self._lock:
            count = self._channels.get(channel, 0)
            self._channels[channel] = count + 1
            if count == 0:
                await self._bus.subscribe(channel, self._on_event)

    async def _leave(self, channel: str) -> None:
        async with self._lock:
            count = self._channels.get(channel, 1) - 1
            if count > 0:
                self._channels[channel] = count
                return
            self._channels.pop(channel, None)
            await self._bus.unsubscribe(channel)

    def _on_event(self, message: bytes) -> None:
        if _MARK not in message:
            return
        try:
            event = _decode.decode(message)
        except msgspec.DecodeError:
            return
        if event.type != "run_finished":
            return
        for future in self._waiting.get(event.run_id, ()):
            if not future.done():
                future.set_result(None)
