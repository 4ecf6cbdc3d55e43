"""Structured JSON logs carrying a request id, and Sentry when a DSN is configured."""

from __future__ import annotations

import logging
import re
import sys
import time
import uuid
from typing import Any

import structlog
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from server.settings import Settings

_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
REQUEST_ID_HEADER = "x-request-id"

# Credentials that must never reach a log line or an error report: API tokens (also inside
# `?token=` on WebSocket URLs, which uvicorn logs), webhook secrets, bearer headers, session
# cookies and anything passed as a token/secret/password query or form field.
_SECRETS = (
    (re.compile(r"glx_[A-Za-z0-9_\-]+"), "glx_[redacted]"),
    (re.compile(r"whsec_[A-Za-z0-9+/=_\-]+"), "whsec_[redacted]"),
    (re.compile(r"(?i)(bearer\s+)(?!\[redacted\])[^\s\"',;]+"), r"\1[redacted]"),
    (re.compile(r"(?i)(galaxy_session=)[^;\s\"',&]+"), r"\1[redacted]"),
    (re.compile(r"(?i)\b((?:token|secret|password|api_key)=)(?!glx_\[redacted\])[^&\s\"',;]+"), r"\1[redacted]"),
)
REDACTED = "[redacted]"
_SECRET_FIELDS = frozenset({"authorization", "cookie", "set-cookie", "password", "token", "secret", "x-csrf-token"})


def redact(text: str) -> str:
    """`text` with every credential it holds replaced by `[redacted]`."""
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


def _redact_rendered(_: Any, __: str, event: Any) -> Any:
    """Last step of every log line: the rendered line, whoever logged it (uvicorn included)."""
    return redact(event) if isinstance(event, str) else event


def scrub_event(event: Any, hint: Any = None) -> Any:
    """Sentry `before_send`: credentials out of every string of the event, and the values of
    fields named like credentials (headers, cookies, form fields) dropped."""
    if isinstance(event, str):
        return redact(event)
    if isinstance(event, dict):
        return {
            key: REDACTED if isinstance(key, str) and key.lower() in _SECRET_FIELDS else scrub_event(value)
            for key, value in event.items()
        }
    if isinstance(event, list | tuple):
        return [scrub_event(item) for item in event]
    return event


def configure_logging(settings: Settings) -> None:
    """Route structlog and the standard library (uvicorn, litestar, arq) through one renderer."""
    renderer: Any = (
        structlog.processors.JSONRenderer() if settings.log_json else structlog.dev.ConsoleRenderer(colors=False)
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
                _redact_rendered,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "arq", "litestar"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # One access line per request comes from RequestContextMiddleware instead.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)


def init_sentry(settings: Settings, *, worker: bool = False) -> None:
    """Start Sentry when SENTRY_DSN is set; do nothing at all otherwise."""
    if not settings.sentry_dsn:
        return
    import sentry_sdk

    integrations: list[Any] = []
    if worker:
        from sentry_sdk.integrations.arq import ArqIntegration

        integrations.append(ArqIntegration())
    else:
        from sentry_sdk.integrations.litestar import LitestarIntegration

        integrations.append(LitestarIntegration())
    sentry_sdk.init(
        dsn=settings.sentry_dsn,
        environment=settings.environment,
        integrations=integrations,
        traces_sample_rate=0.0,
        send_default_pii=False,
        before_send=scrub_event,
        before_send_transaction=scrub_event,
    )


class RequestContextMiddleware:
    """Gives each HTTP request an id (kept from `X-Request-ID` when sane), binds it to every log
    line of the request, returns it in the response and logs one access line."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.log = structlog.get_logger("galaxy.access")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        incoming = dict(scope.get("headers", [])).get(REQUEST_ID_HEADER.encode(), b"").decode("latin-1")
        request_id = incoming if _REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", []),
                    (REQUEST_ID_HEADER.encode(), request_id.encode()),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            self.log.info(
                "request",
                method=scope.get("method", "WS"),
                path=scope["path"],
                status=status,
                duration_ms=round((time.perf_counter() - started) * 1000, 2),
            )
            structlog.contextvars.clear_contextvars()
