"""Callbacks: a hook with a callback URL gets each run it started POSTed to it when it finishes.

`CallbackEvents` wraps the run event sink (worker and web alike): when a `run_finished` event of a
run started by such a hook is published, it queues one `deliver_callback` job per run (the job id
names the run, so a repeated event queues nothing). The job (`CallbackSender.deliver`) runs on a
worker: it checks the URL (server/hooks/addresses.py), signs the body with Standard Webhooks
headers using the hook's current secret, POSTs it, and records the attempt in the delivery log.
A timeout, a connection failure, a name that does not resolve, a 5xx or a 429 is retried with exponential backoff
(WEBHOOK_CALLBACK_BACKOFF_MS, doubled each time) up to WEBHOOK_CALLBACK_ATTEMPTS attempts; any
other answer is final. The message id is the same on every attempt, so a receiver can drop
repeats.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg
import httpx
import msgspec
import structlog

from engine.events import RunEvent, RunFinished
from server.hooks.addresses import Unresolvable, UnsafeUrl, resolve
from server.hooks.results import RunResult, run_result
from server.hooks.secret import SecretBox
from server.hooks.signing import sign_headers
from server.hooks.store import Delivery, HookStore
from server.runs.bus import ArqDispatcher, RunEvents, RunPosition
from server.settings import Settings

log = structlog.get_logger(__name__)

JOB = "deliver_callback"
EVENT_TYPE = "run.finished"
USER_AGENT = "Galaxy-Webhooks/1"

_CALLBACK_OF_RUN = """
SELECT h.id, h.callback_url, h.secret_encrypted FROM runs r JOIN webhooks h ON h.id = r.hook
WHERE r.id = $1 AND h.deleted_at IS NULL AND h.callback_url <> '' AND h.secret_encrypted <> ''
"""


class CallbackEvents:
    """An `EventSink` that queues the callback of a finished webhook run after publishing it."""

    def __init__(self, inner: RunEvents, pool: asyncpg.Pool, dispatcher: ArqDispatcher) -> None:
        self._inner = inner
        self._pool = pool
        self._dispatcher = dispatcher

    async def publish(self, workflow_id: str, event: RunEvent) -> int:
        seq = await self._inner.publish(workflow_id, event)
        if isinstance(event, RunFinished):
            await self._queue(event.run_id)
        return seq

    async def position(self, run_id: str) -> RunPosition:
        return await self._inner.position(run_id)

    async def publish_all(self, workflow_id: str, events: Sequence[RunEvent]) -> list[int]:
        seqs = await self._inner.publish_all(workflow_id, events)
        for event in events:
            if isinstance(event, RunFinished):
                await self._queue(event.run_id)
        return seqs

    async def _queue(self, run_id: str) -> None:
        try:
            wanted = await self._pool.fetchval(
                "SELECT EXISTS (SELECT 1 FROM runs r JOIN webhooks h ON h.id = r.hook "
                "WHERE r.id = $1 AND h.callback_url <> '' AND h.deleted_at IS NULL)",
                UUID(run_id),
            )
            if wanted:
                await self._dispatcher.job(f"hook-callback:{run_id}", JOB, run_id)
        except Exception:
            # The run's own record and events are done; a lost callback is logged, never fatal.
            log.exception("webhook_callback_not_queued", run_id=run_id)


class CallbackBody(msgspec.Struct):
    """What a callback receiver gets (the Standard Webhooks payload shape)."""

    type: str
    timestamp: datetime
    data: RunResult


class CallbackSender:
    """Delivers callbacks from a worker (see the module docstring)."""

    def __init__(self, pool: asyncpg.Pool, settings: Settings, box: SecretBox) -> None:
        self._pool = pool
        self._settings = settings
        self._box = box
        self._store = HookStore(pool)

    async def deliver(self, run_id: str, attempt: int) -> float | None:
        """Make one attempt; return the seconds to wait before the next one, or None when done."""
        row = await self._pool.fetchrow(_CALLBACK_OF_RUN, UUID(run_id))
        if row is None:
            return None  # the hook was deleted or lost its callback URL meanwhile
        result = await run_result(self._pool, UUID(run_id), self._settings.public_url)
        if result is None:
            return None
        entry = Delivery(webhook=row["id"], kind="callback", outcome="", run=UUID(run_id), attempt=attempt,
                         received_at=datetime.now(UTC))  # fmt: skip
        settings = self._settings
        started = time.perf_counter()
        try:
            target = await resolve(
                row["callback_url"],
                allow_http=settings.webhook_callback_allow_http,
                allow_private=settings.webhook_callback_allow_private,
            )
        except Unresolvable as err:  # DNS may answer later: retried like a failed connection
            return await self._retry_or_give_up(entry, str(err), started)
        except UnsafeUrl as err:
            await self._record(entry, "refused", str(err), started)
            return None
        entry.address = target.address
        body = msgspec.json.encode(CallbackBody(EVENT_TYPE, datetime.now(UTC), result)).decode()
        headers = {
            **sign_headers(self._box.open(row["secret_encrypted"]), f"msg_{UUID(run_id).hex}", body),
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            "host": target.host if target.port in (80, 443) else f"{target.host}:{target.port}",
        }
        try:
            response = await self._post(target.pinned_url(), body, headers, target.host)
        except httpx.TimeoutException:
            return await self._retry_or_give_up(
                entry, f"No answer within {settings.webhook_callback_timeout:g} s.", started
            )
        except httpx.HTTPError as err:
            reason = f"Could not reach the receiver: {type(err).__name__}: {err}"[:300]
            return await self._retry_or_give_up(entry, reason, started)
        entry.status_code = response.status_code
        if 200 <= response.status_code < 300:
            await self._record(entry, "delivered", "", started)
            return None
        if response.status_code < 500 and response.status_code != 429:
            await self._record(entry, "failed", f"The receiver answered {response.status_code}.", started)
            return None
        return await self._retry_or_give_up(entry, f"The receiver answered {response.status_code}.", started)

    async def _retry_or_give_up(self, entry: Delivery, reason: str, started: float) -> float | None:
        """Record a failed attempt that may succeed later; the delay before the next one, if any."""
        settings = self._settings
        if entry.attempt >= settings.webhook_callback_attempts:
            await self._record(entry, "failed", f"{reason} Gave up after {entry.attempt} attempts.", started)
            return None
        delay = settings.webhook_callback_backoff_ms / 1000 * float(2 ** (entry.attempt - 1))
        await self._record(entry, "retrying", f"{reason} Next attempt in {delay:g} s.", started)
        return delay

    async def _post(self, url: str, body: str, headers: dict[str, str], host: str) -> httpx.Response:
        timeout = httpx.Timeout(self._settings.webhook_callback_timeout)
        # No redirects (a 3xx is final) and no proxies from the environment: the request goes to
        # the address that was checked, with the host name for TLS.
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=False, trust_env=False) as client:
            extensions: dict[str, Any] = {"sni_hostname": host} if url.startswith("https:") else {}
            return await client.post(url, content=body.encode(), headers=headers, extensions=extensions)

    async def _record(self, entry: Delivery, outcome: str, reason: str, started: float) -> None:
        entry.outcome = outcome
        entry.reason = reason
        entry.latency_ms = int((time.perf_counter() - started) * 1000)
        await self._store.log([entry])
        log.info("webhook_callback", outcome=outcome, status=entry.status_code, attempt=entry.attempt)
