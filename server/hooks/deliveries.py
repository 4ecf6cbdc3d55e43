"""The delivery log writer of a web process: intake rows are written in batches, off the path of
the answer (one INSERT for everything that arrived in the last FLUSH_SECONDS), and each hook's
log is trimmed to its retention from time to time."""

from __future__ import annotations

import asyncio
import contextlib
import time
from uuid import UUID

import structlog

from server.hooks.store import Delivery, HookStore

log = structlog.get_logger(__name__)

FLUSH_SECONDS = 0.1
MAX_BATCH = 500
MAX_PENDING = 100 * MAX_BATCH
TRIM_EVERY_SECONDS = 10.0


class DeliveryLog:
    """Buffers delivery rows and writes them in the background (see the module docstring)."""

    def __init__(self, store: HookStore, retention: int) -> None:
        self._store = store
        self._retention = retention
        self._pending: list[Delivery] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._trimmed: dict[UUID, float] = {}

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
            await self._trim({d.webhook for d in batch})

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

    async def _trim(self, hook_ids: set[UUID]) -> None:
        now = time.monotonic()
        due = [h for h in hook_ids if now - self._trimmed.get(h, -TRIM_EVERY_SECONDS) > TRIM_EVERY_SECONDS]
        if due:
            await self._store.trim(due, self._retention)
            self._trimmed.update(dict.fromkeys(due, now))
