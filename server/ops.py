"""Liveness, readiness and the Prometheus scrape endpoint."""

from __future__ import annotations

import asyncio
import hmac
from typing import Any

from litestar import Controller, Request, get
from litestar.connection import ASGIConnection
from litestar.handlers import BaseRouteHandler
from litestar.plugins.prometheus import PrometheusController
from litestar.response import Response

from server.errors import NotFound, Unauthorized
from server.http_rules import PUBLIC
from server.migrations import pending_migrations
from server.settings import Settings
from server.tables import Workflow


class HealthController(Controller):
    tags = ["operations"]

    @get("/healthz", opt=PUBLIC, summary="The process is alive")
    async def healthz(self) -> dict[str, str]:
        return {"status": "ok"}

    @get("/readyz", opt=PUBLIC, summary="Postgres, Redis and migrations are ready")
    async def readyz(self, request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
        checks: dict[str, Any] = {}
        try:
            await asyncio.wait_for(Workflow.raw("SELECT 1"), timeout=2)
            checks["postgres"] = "ok"
            pending = await asyncio.wait_for(pending_migrations(), timeout=2)
            checks["migrations"] = "ok" if not pending else {"pending": pending}
        except Exception as err:
            checks["postgres"] = f"error: {type(err).__name__}"
            checks.setdefault("migrations", "unknown")
        try:
            await asyncio.wait_for(request.app.state.redis.ping(), timeout=2)
            checks["redis"] = "ok"
        except Exception as err:
            checks["redis"] = f"error: {type(err).__name__}"
        ready = all(v == "ok" for v in checks.values())
        return Response(
            {"status": "ok" if ready else "unavailable", "checks": checks}, status_code=200 if ready else 503
        )


def metrics_access(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """`/metrics` on the public port only with `METRICS_TOKEN`, sent as a bearer token; without
    one it is not served there at all (use `METRICS_PORT` for a separate, private address)."""
    settings: Settings = connection.app.state.settings
    if not settings.metrics_token:
        raise NotFound("Metrics are not served on this port; see METRICS_PORT and METRICS_TOKEN.")
    sent = connection.headers.get("authorization", "")
    if not hmac.compare_digest(sent.encode(), f"Bearer {settings.metrics_token}".encode()):
        raise Unauthorized("Send the metrics token as 'Authorization: Bearer <METRICS_TOKEN>'.")


class MetricsController(PrometheusController):
    path = "/metrics"
    opt = PUBLIC
    include_in_schema = False
    guards = [metrics_access]
