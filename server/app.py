"""Composition root: builds the Litestar app from `Settings`."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from litestar import Litestar, Request, get
from litestar.datastructures import State
from litestar.di import Provide
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin, SwaggerRenderPlugin
from litestar.plugins.prometheus import PrometheusConfig
from litestar.response import File
from litestar.static_files import create_static_files_router
from litestar.types import ASGIApp
from piccolo.engine.postgres import PostgresEngine
from redis.asyncio import Redis

from collab.fanout import RedisBus
from engine.nodes import load_node_types
from engine.registry import registry_of
from server.accounts.auth import AuthMiddleware
from server.accounts.controllers import AuthController, TokenController
from server.accounts.sessions import SessionStore
from server.collaboration import build_hub
from server.errors import problem_details_plugin
from server.http_rules import enforce_request_rules
from server.keys import RedisKeys
from server.llm import ModelController
from server.media.controllers import MediaController
from server.media.library import MediaLibrary
from server.media.storage import LocalStorage
from server.metrics import watch
from server.nodes import NodeTypeController
from server.observability import RequestContextMiddleware, configure_logging, init_sentry
from server.ops import HealthController, MetricsController
from server.ratelimit import RateLimiter
from server.realtime import workflow_socket
from server.runs.access import provide_run_access
from server.runs.controllers import RunController, WorkflowRunController
from server.runs.service import RunService
from server.settings import Settings, load_settings
from server.tables import bind_engine
from server.workflows.access import provide_access
from server.workflows.controllers import WorkflowController
from server.workflows.versions import VersionController

PUBLIC = {"exclude_from_auth": True}
PLACEHOLDER = Path(__file__).parent / "placeholder.html"


def _editor_index(settings: Settings) -> Path:
    index = settings.static_dir / "index.html"
    return index if index.is_file() else PLACEHOLDER


class GalaxyApp(Litestar):
    """Litestar with the request context outermost, so errors raised before routing (404, 405,
    authentication) also carry a request id and get an access log line."""

    def _create_asgi_handler(self) -> ASGIApp:
        return RequestContextMiddleware(super()._create_asgi_handler())


def create_app(settings: Settings) -> Litestar:
    """The web application; every resource it opens is opened and closed by its lifespan."""
    configure_logging(settings)
    init_sentry(settings)  # before the app is constructed: the integration patches Litestar
    redis = Redis.from_url(settings.redis_url, health_check_interval=30)
    keys = RedisKeys(settings.redis_namespace)
    registry = registry_of(load_node_types(settings.extra_nodes))
    bus = RedisBus(redis)
    hub = build_hub(settings, bus)
    bus.on_reconnect = hub.anti_entropy
    watch(hub)
    state = State(
        {
            "settings": settings,
            "redis": redis,
            "keys": keys,
            "sessions": SessionStore(redis, keys, settings.session_max_age),
            "limiter": RateLimiter(redis, keys),
            "registry": registry,
            "hub": hub,
        }
    )

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        # Bound here, not when the app is built: building an app (e.g. to read its routes) must not
        # repoint the tables of an app already serving in this process.
        engine = PostgresEngine(config={"dsn": settings.database_url}, log_queries=False, log_responses=False)
        bind_engine(engine)
        await engine.start_connection_pool(min_size=1, max_size=settings.db_pool_max)
        state.media = MediaLibrary(pool=engine.pool, storage=LocalStorage(settings.media_dir), settings=settings)
        state.runs = RunService(
            pool=engine.pool, redis=redis, keys=keys, registry=registry, settings=settings, limiter=state.limiter
        )
        await bus.start()
        await hub.start()
        # Everything allocated at start-up lives as long as the process: keep it out of the
        # collector's full passes, which otherwise show up as multi-millisecond fan-out stalls.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            for room in hub.rooms.values():
                for connection in list(room.connections.values()):
                    connection.shut(1012, "server restarting")
            await hub.stop()
            await bus.stop()
            await engine.close_connection_pool()
            await redis.aclose()

    @get(["/", "/w/{workflow_id:str}"], opt=PUBLIC, include_in_schema=False)
    async def editor(request: Request[Any, Any, Any]) -> File:
        return File(_editor_index(settings), content_disposition_type="inline", media_type="text/html")

    handlers: list[Any] = [
        editor,
        HealthController,
        MetricsController,
        AuthController,
        TokenController,
        WorkflowController,
        VersionController,
        NodeTypeController,
        ModelController,
        WorkflowRunController,
        RunController,
        MediaController,
        workflow_socket,
    ]
    assets = settings.static_dir / "assets"
    if assets.is_dir():
        handlers.append(create_static_files_router(path="/assets", directories=[assets], opt=PUBLIC))

    def provide(key: str) -> Provide:
        return Provide(lambda: state[key], sync_to_thread=False, use_cache=True)

    return GalaxyApp(
        route_handlers=handlers,
        state=state,
        lifespan=[lifespan],
        dependencies={
            "settings": provide("settings"),
            "registry": provide("registry"),
            "limiter": provide("limiter"),
            "hub": provide("hub"),
            "access": Provide(provide_access),
            "runs": provide("runs"),
            "run_access": Provide(provide_run_access),
            "media": provide("media"),
        },
        middleware=[
            PrometheusConfig(
                app_name="galaxy", prefix="galaxy", group_path=True, exclude_unhandled_paths=True
            ).middleware,
            DefineMiddleware(AuthMiddleware, exclude=["^/schema"], exclude_from_auth_key="exclude_from_auth"),
        ],
        plugins=[problem_details_plugin()],
        before_request=enforce_request_rules,
        openapi_config=OpenAPIConfig(
            title="Galaxy API",
            version="1",
            description="Workflows, members, runs, media, webhooks and tokens. Sign in with a session "
            "cookie (send X-CSRF-Token on writes) or send 'Authorization: Bearer <API token>'.",
            path="/schema",
            render_plugins=[ScalarRenderPlugin(), SwaggerRenderPlugin(path="/swagger")],
        ),
        request_max_body_size=settings.max_request_bytes,
        logging_config=None,  # configure_logging owns the root logger
        debug=False,
    )


def create_app_from_env() -> Litestar:
    """Factory for `uvicorn --factory`: settings from the process environment."""
    return create_app(load_settings())
