"""The delivery log writer of a web process: intake rows are written in batches, off the path of
the answer (one INSERT for everything that arrived in the last FLUSH_SECONDS), and a hook's log
is trimmed back to WEBHOOK_DELIVERY_RETENTION rows each time this process has added a tenth of
that to it (so it never holds more than 1.1 times the retention per web process)."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from uuid import UUID

import structlog

from server.hooks.store import Delivery, HookStore

log = structlog.get_logger(__name__)

FLUSH_SECONDS = 0.1
MAX_BATCH = 500
MAX_PENDING = 100 * MAX_BATCH


class DeliveryLog:
    """Buffers delivery rows and writes them in the background (see the module docstring)."""

    def __init__(self, store: HookStore, retention: int) -> None:
        self._store = store
        self._retention = retention
        self._pending: list[Delivery] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._since_trim: Counter[UUID] = Counter()

    def add(self, delivery: Delivery) -> None:
        if len(self._pending) >= MAX_PENDING:  # Postgres has been failing: keep the newest rows
            del self._pending[:MAX_BATCH]
        self._pending.append(delivery)
        if len(self._pending) >= MAX_BATCH:
            self._wake.set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="webhook-delivery-log")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.flush()

    async def flush(self) -> None:
        """Write what is pending now (also what tests call to read the log at once)."""
        while self._pending:
            batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
            await self._store.log(batch)
            self._since_trim.update(d.webhook for d in batch)
            await self._trim()

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), FLUSH_SECONDS)
            self._wake.clear()
            try:
                await self.flush()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("webhook_delivery_log_failed")  # that batch is lost; the runs are not

    async def _trim(self) -> None:
        due = [hook for hook, added in self._since_trim.items() if added >= max(1, self._retention // 10)]
        if due:
            await self._store.trim(due, self._retention)
            for hook in due:
                del self._since_trim[hook]
