"""The arq worker: `WorkerSettings` names its jobs; jobs are thin calls into `engine`.

Run it with `galaxy worker` (Procfile `worker`), which validates the settings and then hands
`WorkerSettings` to arq with the Redis connection and queue name taken from them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import structlog
from arq.connections import RedisSettings
from piccolo.engine.postgres import PostgresEngine

from server.keys import RedisKeys
from server.observability import configure_logging, init_sentry
from server.settings import Settings, load_settings
from server.tables import bind_engine

log = structlog.get_logger(__name__)


@dataclass
class WorkerContext:
    """What every job receives, typed (arq itself only passes an untyped dict)."""

    settings: Settings
    engine: PostgresEngine
    keys: RedisKeys


def context(ctx: dict[str, Any]) -> WorkerContext:
    worker_context: WorkerContext = ctx["galaxy"]
    return worker_context


async def startup(ctx: dict[str, Any]) -> None:
    settings = load_settings()
    engine = PostgresEngine(config={"dsn": settings.database_url})
    bind_engine(engine)
    await engine.start_connection_pool(min_size=1, max_size=settings.db_pool_max)
    ctx["galaxy"] = WorkerContext(settings=settings, engine=engine, keys=RedisKeys(settings.redis_namespace))
    log.info("worker_started", queue=ctx["galaxy"].keys.arq_queue())


async def shutdown(ctx: dict[str, Any]) -> None:
    worker_context = ctx.get("galaxy")
    if worker_context is not None:
        await worker_context.engine.close_connection_pool()
    log.info("worker_stopped")


async def ping(ctx: dict[str, Any]) -> str:
    """A job that proves a worker is consuming the queue."""
    return "pong"


class WorkerSettings:
    functions: ClassVar[list[Any]] = [ping]
    on_startup = startup
    on_shutdown = shutdown
    max_jobs = 20
    job_timeout = 3600
    health_check_interval = 10


def arq_options(settings: Settings) -> dict[str, Any]:
    """The per-deployment parts of the arq configuration."""
    return {
        "redis_settings": RedisSettings.from_dsn(settings.redis_url),
        "queue_name": RedisKeys(settings.redis_namespace).arq_queue(),
    }


def run(settings: Settings) -> None:
    from arq.worker import run_worker

    configure_logging(settings)
    init_sentry(settings, worker=True)
    run_worker(WorkerSettings, **arq_options(settings))  # type: ignore[arg-type]
