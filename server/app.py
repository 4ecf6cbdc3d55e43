"""Composition root: builds the Litestar app from `Settings`."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, cast

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
from prometheus_client import start_http_server
from redis.asyncio import Redis
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from collab.bus import RedisBus
from collab.connection import CloseCode
from engine.nodes import load_node_types
from engine.registry import registry_of
from server.accounts.auth import AuthMiddleware
from server.accounts.controllers import AuthController, TokenController
from server.accounts.service import ADMISSION_STATEMENTS
from server.accounts.sessions import SessionStore
from server.admission import AdmissionCache
from server.collaboration import build_hub
from server.connection_limits import ConnectionLimits
from server.database import pool_options
from server.errors import problem_details_plugin
from server.hooks.access import provide_hook_access
from server.hooks.callbacks import CallbackEvents
from server.hooks.claims import Claims
from server.hooks.controllers import HookController, WorkflowHookController, receive_webhook
from server.hooks.deliveries import DeliveryLog
from server.hooks.intake import HookIntake
from server.hooks.secret import SecretBox
from server.hooks.store import HookStore
from server.hooks.waiter import RunWaiter
from server.http_rules import PUBLIC, enforce_request_rules
from server.keys import RedisKeys
from server.llm import ModelController
from server.media.controllers import MediaController
from server.media.library import MediaLibrary
from server.media.storage import LocalStorage
from server.metrics import measure_loop_lag, watch
from server.nodes import NodeTypeController
from server.observability import RequestContextMiddleware, configure_logging, init_sentry
from server.ops import HealthController, MetricsController
from server.ratelimit import RateLimiter
from server.realtime import workflow_socket
from server.revocation import Revocations, session_key
from server.runs.access import provide_run_access
from server.runs.bus import ArqDispatcher, RedisEventSink
from server.runs.controllers import RunController, WorkflowRunController
from server.runs.service import RunService
from server.runs.store import PostgresRunStore
from server.settings import Settings, load_settings
from server.tables import bind_engine
from server.workflows.access import provide_access
from server.workflows.codec import DocumentCodec
from server.workflows.controllers import WorkflowController
from server.workflows.store import LOAD_STATEMENT
from server.workflows.versions import VersionController

PLACEHOLDER = Path(__file__).parent / "placeholder.html"


def _editor_index(settings: Settings) -> Path:
    index = settings.static_dir / "index.html"
    return index if index.is_file() else PLACEHOLDER


class GalaxyApp(Litestar):
    """Litestar with the request context outermost, so errors raised before routing (404, 405,
    authentication) also carry a request id and get an access log line."""

    def _create_asgi_handler(self) -> ASGIApp:
        handler: ASGIApp = RequestContextMiddleware(super()._create_asgi_handler())
        settings: Settings | None = self.state.get("settings")
        if settings is not None and settings.trusted_proxies:
            # Only these peers may say who the client is; anyone else's X-Forwarded-For is ignored,
            # so it cannot dodge per-address limits or forge addresses in the logs.
            proxies = settings.trusted_proxies.split(",")
            handler = cast(ASGIApp, ProxyHeadersMiddleware(cast(Any, handler), trusted_hosts=proxies))
        return handler


def create_app(settings: Settings) -> Litestar:
    """The web application; every resource it opens is opened and closed by its lifespan."""
    configure_logging(settings)
    init_sentry(settings)  # before the app is constructed: the integration patches Litestar
    redis = Redis.from_url(settings.redis_url, health_check_interval=30)
    keys = RedisKeys(settings.redis_namespace)
    registry = registry_of(load_node_types(settings.extra_nodes))
    bus = RedisBus(redis)
    codec = DocumentCodec(processes=settings.document_processes)
    admissions: AdmissionCache[Any, Any] = AdmissionCache()
    hub = build_hub(settings, bus, redis, codec, on_access_change=admissions.forget_workflow)
    bus.on_reconnect = hub.anti_entropy
    watch(hub)
    connection_limits = ConnectionLimits(
        redis,
        keys,
        per_user=settings.max_connections_per_user,
        per_workflow=settings.max_connections_per_document,
    )
    revocations = Revocations(keys.revocations(), bus.publish)
    state = State(
        {
            "settings": settings,
            "redis": redis,
            "keys": keys,
            "sessions": SessionStore(
                redis, keys, settings.session_max_age, on_revoked=lambda digest: revocations.revoke(session_key(digest))
            ),
            "revocations": revocations,
            "admissions": admissions,
            "limiter": RateLimiter(redis, keys),
            "registry": registry,
            "hub": hub,
            "connection_limits": connection_limits,
            "codec": codec,
            "box": SecretBox.of(settings),
        }
    )
    # Webhook `?wait` listens on run channels through a pub/sub connection of its own.
    waiter = RunWaiter(RedisBus(redis), keys)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        # Bound here, not when the app is built: building an app (e.g. to read its routes) must not
        # repoint the tables of an app already serving in this process.
        engine = PostgresEngine(config={"dsn": settings.database_url}, log_queries=False, log_responses=False)
        bind_engine(engine)
        # The statements of a socket's join, prepared on each connection as the pool opens it.
        await engine.start_connection_pool(**pool_options(settings, (*ADMISSION_STATEMENTS, LOAD_STATEMENT)))
        state.pool = engine.pool  # for the few hot paths that run their SQL directly
        state.media = MediaLibrary(pool=engine.pool, storage=LocalStorage(settings.media_dir), settings=settings)
        dispatcher = ArqDispatcher(redis, keys)
        state.runs = RunService(
            store=PostgresRunStore(engine.pool),
            # A run cancelled before it started is closed here: its webhook callback is queued too.
            events=CallbackEvents(RedisEventSink(redis, keys), engine.pool, dispatcher),
            dispatcher=dispatcher,
            registry=registry,
            settings=settings,
            limiter=state.limiter,
            codec=state.codec,
        )
        state.hooks = HookStore(engine.pool)
        deliveries = DeliveryLog(state.hooks, settings.webhook_delivery_retention)
        state.intake = HookIntake(
            store=state.hooks,
            box=state.box,
            claims=Claims(redis, keys),
            limiter=state.limiter,
            runs=state.runs,
            hub=hub,
            waiter=waiter,
            deliveries=deliveries,
            settings=settings,
        )
        await deliveries.start()
        await waiter.start()
        await bus.start()
        await bus.subscribe(revocations.channel, revocations.on_message)
        await hub.start()
        await connection_limits.start()
        lag_probe = asyncio.create_task(measure_loop_lag())
        metrics_server = None
        if settings.metrics_port:  # a private address for the scraper, off the public port
            metrics_server, _ = start_http_server(settings.metrics_port, addr=settings.metrics_host)
        # Everything allocated at start-up lives as long as the process: keep it out of the
        # collector's full passes, which otherwise show up as multi-millisecond fan-out stalls.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            lag_probe.cancel()
            if metrics_server is not None:
                metrics_server.shutdown()
                metrics_server.server_close()
            hub.close_all(CloseCode.RESTARTING, "server restarting")
            await hub.stop()
            await waiter.stop()
            await deliveries.stop()
            await connection_limits.stop()
            await bus.stop()
            await engine.close_connection_pool()
            await redis.aclose()
            state.codec.close()

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
        WorkflowHookController,
        HookController,
        receive_webhook,
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
            "codec": provide("codec"),
            "access": Provide(provide_access),
            "runs": provide("runs"),
            "run_access": Provide(provide_run_access),
            "media": provide("media"),
            "hooks": provide("hooks"),
            "box": provide("box"),
            "intake": provide("intake"),
            "hook_access": Provide(provide_hook_access),
        },
        middleware=[
            PrometheusConfig(
                app_name="galaxy",
                prefix="galaxy",
                group_path=True,
                exclude_unhandled_paths=True,
                exclude=["^/ws/"],  # sockets have their own metrics; this one would wrap every send
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
