"""Work started and not awaited (a publish from synchronous code, an unload, a write nobody
waits for). The event loop keeps only weak references to tasks, so each is kept here until it
ends, and its failure is logged rather than lost."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger(__name__)

_running: set[asyncio.Task[None]] = set()


def spawn(work: Coroutine[Any, Any, None], *, name: str | None = None) -> asyncio.Task[None]:
    task = asyncio.get_running_loop().create_task(work, name=name)
    _running.add(task)
    task.add_done_callback(_ended)
    return task


def _ended(task: asyncio.Task[None]) -> None:
    _running.discard(task)
    if not task.cancelled() and task.exception() is not None:
        log.error("background_task_failed", exc_info=task.exception(), extra={"task": task.get_name()})
