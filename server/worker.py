"""The arq worker: `WorkerSettings` names its jobs; jobs are thin calls into `engine`.

Run it with `galaxy worker` (Procfile `worker`), which validates the settings and then hands
`WorkerSettings` to arq with the Redis connection, queue name and concurrency taken from them.

Each worker process holds one `RunScheduler` and three background loops: lease renewal (every
quarter lease), the reaper (every half lease: re-queues nodes of dead workers and stalled runs)
and the control listener (cancel requests from web processes). With WORKER_METRICS_PORT set, the
worker serves its Prometheus metrics (runs finished, node durations) on that port at /metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar
from wsgiref.simple_server import WSGIServer

import asyncpg
import structlog
from arq import Retry, Worker
from arq.connections import RedisSettings
from arq.worker import func
from prometheus_client import start_http_server
from redis.asyncio import Redis

from engine.nodes import llm, load_node_types
from engine.nodes.base import Offload
from engine.scheduler import RunScheduler
from server.database import pool_options
from server.hooks import callbacks
from server.hooks.callbacks import CallbackEvents, CallbackSender
from server.hooks.secret import SecretBox
from server.keys import RedisKeys
from server.llm import llm_config
from server.media.storage import LocalStorage
from server.media.store import run_media
from server.observability import configure_logging, init_sentry
from server.runs.bus import ArqDispatcher, RedisEventSink
from server.runs.metrics import PrometheusObserver
from server.runs.store import PostgresRunStore
from server.settings import Settings, load_settings

log = structlog.get_logger(__name__)

JOB_TIMEOUT_SECONDS = 24 * 3600  # a job may carry a long chain of nodes; nodes have their own timeout
T = TypeVar("T")


@dataclass
class WorkerContext:
    """What every job receives, typed (arq itself only passes an untyped dict)."""

    settings: Settings
    pool: asyncpg.Pool
    keys: RedisKeys
    scheduler: RunScheduler
    callbacks: CallbackSender
    background: list[asyncio.Task[None]] = field(default_factory=list)
    metrics_server: WSGIServer | None = None
    media_pool: ProcessPoolExecutor | None = None


def context(ctx: dict[str, Any]) -> WorkerContext:
    worker_context: WorkerContext = ctx["galaxy"]
    return worker_context


def process_offload(pool: ProcessPoolExecutor) -> Offload:
    """Blocking media work (decoding, encoding) in a pool of processes: Pillow and PyAV hold the
    GIL for parts of their work, which in a thread stalls the event loop for the other nodes."""

    async def offload(work: Callable[..., T], /, *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(pool, work, *args)

    return offload


def media_pool(settings: Settings) -> ProcessPoolExecutor:
    # Spawned, not forked: the worker process already runs threads (asyncpg, the metrics server).
    # One CPU is left to the event loop by default (bench/README.md: event-loop lag).
    size = settings.worker_media_processes or max(1, (os.cpu_count() or 1) - 1)
    return ProcessPoolExecutor(max_workers=size, mp_context=multiprocessing.get_context("spawn"))


def worker_id() -> str:
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


async def _every(seconds: float, action: Callable[[], Awaitable[None]], name: str) -> None:
    while True:
        await asyncio.sleep(seconds)
        try:
            await action()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("background_step_failed", step=name)


async def _listen_for_cancels(redis: Redis, keys: RedisKeys, scheduler: RunScheduler) -> None:
    while True:
        try:
            async with redis.pubsub(ignore_subscribe_messages=True) as pubsub:
                await pubsub.subscribe(keys.run_control())
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        data = message["data"]
                        scheduler.cancel_local(data.decode() if isinstance(data, bytes) else str(data))
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("control_listener_failed")
            await asyncio.sleep(1)


async def startup(ctx: dict[str, Any]) -> None:
    settings: Settings = ctx.get("settings") or load_settings()
    keys = RedisKeys(settings.redis_namespace)
    redis: Redis = ctx["redis"]
    pool = await asyncpg.create_pool(settings.database_url, **pool_options(settings))
    node_types = load_node_types(settings.extra_nodes)
    node_types["llm"] = llm.node(llm_config(settings))  # the executor calls the models configured here
    processes = media_pool(settings)
    dispatcher = ArqDispatcher(redis, keys)
    scheduler = RunScheduler(
        store=PostgresRunStore(pool),
        # Finished runs of webhooks with a callback URL queue their callback (server/hooks).
        events=CallbackEvents(RedisEventSink(redis, keys), pool, dispatcher),
        dispatcher=dispatcher,
        node_types=node_types,
        worker_id=worker_id(),
        lease_seconds=settings.run_lease_seconds,
        node_timeout=settings.node_timeout,
        max_attempts=settings.node_max_attempts,
        local_slots=settings.worker_max_jobs,
        observer=PrometheusObserver(),
        media=run_media(pool, LocalStorage(settings.media_dir)),
        offload=process_offload(processes),
    )
    lease = settings.run_lease_seconds
    background = [
        asyncio.create_task(_every(lease / 4, scheduler.heartbeat, "heartbeat")),
        asyncio.create_task(_every(lease / 2, lambda: scheduler.reap(idle_seconds=lease), "reaper")),
        asyncio.create_task(_listen_for_cancels(redis, keys, scheduler)),
    ]
    metrics_server = None
    if settings.worker_metrics_port:
        metrics_server, _ = start_http_server(settings.worker_metrics_port, addr=settings.host)
    ctx["galaxy"] = WorkerContext(
        settings=settings,
        pool=pool,
        keys=keys,
        scheduler=scheduler,
        callbacks=CallbackSender(pool, settings, SecretBox.of(settings)),
        background=background,
        metrics_server=metrics_server,
        media_pool=processes,
    )
    log.info("worker_started", queue=keys.arq_queue(), worker_id=scheduler.worker_id)


async def shutdown(ctx: dict[str, Any]) -> None:
    worker_context: WorkerContext | None = ctx.get("galaxy")
    if worker_context is not None:
        for task in worker_context.background:
            task.cancel()
        for task in worker_context.background:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await worker_context.pool.close()
        if worker_context.media_pool is not None:
            worker_context.media_pool.shutdown(wait=False, cancel_futures=True)
        if worker_context.metrics_server is not None:
            worker_context.metrics_server.shutdown()
            worker_context.metrics_server.server_close()
    log.info("worker_stopped")


async def start_run(ctx: dict[str, Any], run_id: str) -> None:
    """Announce a queued run and execute its first ready nodes."""
    structlog.contextvars.bind_contextvars(run_id=run_id)
    await context(ctx).scheduler.start_run(run_id)


async def run_nodes(ctx: dict[str, Any], run_id: str, node_ids: list[str]) -> None:
    """Execute ready nodes of a run side by side, each continuing with what it makes ready."""
    structlog.contextvars.bind_contextvars(run_id=run_id)
    await context(ctx).scheduler.run_nodes(run_id, node_ids)


async def deliver_callback(ctx: dict[str, Any], run_id: str) -> None:
    """POST a finished webhook run to its hook's callback URL; retried with backoff (arq `Retry`)."""
    structlog.contextvars.bind_contextvars(run_id=run_id)
    delay = await context(ctx).callbacks.deliver(run_id, attempt=int(ctx.get("job_try", 1)))
    if delay is not None:
        raise Retry(defer=delay)


async def ping(ctx: dict[str, Any]) -> str:
    """A job that proves a worker is consuming the queue."""
    return "pong"


FUNCTIONS = [
    func(start_run, keep_result=0, max_tries=3),
    func(run_nodes, keep_result=0, max_tries=3),
    # Attempts are bounded by WEBHOOK_CALLBACK_ATTEMPTS (at most 20) inside the job.
    func(deliver_callback, name=callbacks.JOB, keep_result=0, max_tries=21, timeout=330),
    func(ping),
]


class WorkerSettings:
    functions: ClassVar[list[Any]] = FUNCTIONS
    on_startup = startup
    on_shutdown = shutdown
    max_jobs = 100
    job_timeout = JOB_TIMEOUT_SECONDS
    health_check_interval = 10


def arq_options(settings: Settings) -> dict[str, Any]:
    """The per-deployment parts of the arq configuration."""
    return {
        "redis_settings": RedisSettings.from_dsn(settings.redis_url),
        "queue_name": RedisKeys(settings.redis_namespace).arq_queue(),
        "max_jobs": settings.worker_max_jobs,
        "poll_delay": settings.worker_poll_delay_ms / 1000,
    }


def build_worker(settings: Settings, **overrides: Any) -> Worker:
    """A worker for `settings` that the caller runs in its own event loop (tests, benchmarks)."""
    options: dict[str, Any] = {
        "functions": FUNCTIONS,
        "on_startup": startup,
        "on_shutdown": shutdown,
        "job_timeout": JOB_TIMEOUT_SECONDS,
        "ctx": {"settings": settings},
        "handle_signals": False,
        "log_results": False,
        **arq_options(settings),
    }
    options.update(overrides)
    return Worker(**options)


def run(settings: Settings) -> None:
    from arq.worker import run_worker

    configure_logging(settings)
    init_sentry(settings, worker=True)
    # The web process runs on uvloop (uvicorn picks it); the worker too, where it is installed:
    # a run is a dozen round trips to Postgres and Redis, and uvloop's transports cost less each.
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    run_worker(WorkerSettings, **arq_options(settings))  # type: ignore[arg-type]
