"""Settings read from environment variables only, validated once at start.

A missing or malformed value raises `SettingsError` whose message is one line naming the
variable and what it expects; the entry points print that line and exit.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import msgspec

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class SettingsError(Exception):
    """A setting is missing or malformed; `str(err)` is the one-line explanation."""


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """Everything the web and worker processes need to know about their environment."""

    database_url: str
    redis_url: str
    secret_key: str
    redis_namespace: str = "galaxy"
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str = ""
    static_dir: Path = PROJECT_ROOT / "static" / "dist"
    media_dir: Path = PROJECT_ROOT / ".galaxy" / "media"
    sentry_dsn: str = ""
    environment: str = "development"
    log_level: str = "INFO"
    log_json: bool = True
    session_max_age: int = 14 * 24 * 3600
    secure_cookies: bool = False
    max_request_bytes: int = 2 * 1024 * 1024
    max_import_bytes: int = 1024 * 1024
    max_nodes: int = 500
    max_edges: int = 2000
    login_limit_per_ip: int = 30
    login_limit_per_email: int = 10
    login_limit_window: int = 300
    signup_limit_per_ip: int = 20
    db_pool_max: int = 10
    extra_nodes: str = ""
    max_active_runs: int = 10
    run_start_limit: int = 60
    node_timeout: int = 600
    node_max_attempts: int = 3
    run_lease_seconds: int = 30
    worker_max_jobs: int = 100
    worker_poll_delay_ms: int = 50
    worker_metrics_port: int = 0
    max_ws_message_bytes: int = 1024 * 1024
    max_document_bytes: int = 8 * 1024 * 1024
    max_connections_per_user: int = 20
    max_connections_per_document: int = 300
    ws_send_queue: int = 1024
    ws_send_queue_bytes: int = 16 * 1024 * 1024
    collab_flush_interval: float = 0.5
    collab_sweep_interval: float = 5.0
    collab_stale_after: float = 10.0
    collab_unload_after: int = 10
    version_every: int = 600
    document_processes: int = 1
    trusted_proxies: str = ""
    metrics_token: str = ""
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 0
    max_image_bytes: int = 25 * 1024 * 1024
    max_video_bytes: int = 500 * 1024 * 1024
    max_image_pixels: int = 89_478_485  # Pillow's own decompression-bomb threshold
    models: tuple[str, ...] = ()
    default_model: str = ""
    llm_base_url: str = ""
    llm_api_key: str = ""
    llm_timeout: int = 120
    llm_max_retries: int = 3
    llm_retry_delay_ms: int = 1000
    worker_media_processes: int = 0  # 0: one per CPU but one
    # Names (never values) of the provider key variables that are set, for GET /api/models.
    provider_keys: frozenset[str] = frozenset()


def _int(minimum: int, maximum: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        if not re.fullmatch(r"-?\d+", raw.strip()):
            raise ValueError(f"an integer between {minimum} and {maximum}")
        value = int(raw)
        if not minimum <= value <= maximum:
            raise ValueError(f"an integer between {minimum} and {maximum}")
        return value

    return parse


def _float(minimum: float, maximum: float) -> Callable[[str], float]:
    def parse(raw: str) -> float:
        try:
            value = float(raw.strip())
        except ValueError:
            value = float("nan")
        if not minimum <= value <= maximum:
            raise ValueError(f"a number of seconds between {minimum:g} and {maximum:g}")
        return value

    return parse


def _bool(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError("true or false")


def _url(*schemes: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.strip()
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 - raises ValueError on a malformed port
        except ValueError:
            parts = None
        if parts is None or parts.scheme not in schemes:
            raise ValueError(f"a URL starting with {' or '.join(s + '://' for s in schemes)}")
        if parts.scheme == "unix" and parts.path:
            return value
        if not parts.hostname and "host=" not in parts.query:
            raise ValueError(f"a URL with a host, like {schemes[0]}://user@127.0.0.1/db")
        return value

    return parse


def _secret(raw: str) -> str:
    if len(raw) < 32:
        raise ValueError("a random string of at least 32 characters (e.g. `openssl rand -hex 32`)")
    return raw


def _choice(*options: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.strip().upper() if options[0].isupper() else raw.strip()
        if value not in options:
            raise ValueError("one of " + ", ".join(options))
        return value

    return parse


def _namespace(raw: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", raw):
        raise ValueError("1-64 characters from A-Z a-z 0-9 _ . -")
    return raw


def _module_path(raw: str) -> str:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*", raw.strip()):
        raise ValueError("a Python module path such as mypackage.nodes")
    return raw.strip()


def _models(raw: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(part.strip() for part in raw.split(",") if part.strip()))
    for name in names:
        if not re.fullmatch(r"[A-Za-z0-9_.:@/+-]{1,200}", name):
            raise ValueError(f"a comma-separated list of litellm model names such as openai/gpt-4o-mini ({name!r})")
    return names


def _model(raw: str) -> str:
    names = _models(raw)
    if len(names) != 1:
        raise ValueError("one litellm model name such as openai/gpt-4o-mini")
    return names[0]


def _public_url(raw: str) -> str:
    return _url("http", "https")(raw).rstrip("/") if raw.strip() else ""


def _networks(raw: str) -> str:
    items = [item.strip() for item in raw.split(",") if item.strip()]
    try:
        return ",".join(str(ipaddress.ip_network(item, strict=False)) for item in items)
    except ValueError:
        raise ValueError("a comma-separated list of IP addresses or networks, like 10.0.0.5,10.1.0.0/16") from None


def _metrics_token(raw: str) -> str:
    if len(raw.strip()) < 16:
        raise ValueError("a random string of at least 16 characters")
    return raw.strip()


# variable → (field, parser); `None` parser means the raw string is kept.
_VARIABLES: dict[str, tuple[str, Callable[[str], Any] | None]] = {
    "DATABASE_URL": ("database_url", _url("postgres", "postgresql")),
    "REDIS_URL": ("redis_url", _url("redis", "rediss", "unix")),
    "SECRET_KEY": ("secret_key", _secret),
    "GALAXY_REDIS_NAMESPACE": ("redis_namespace", _namespace),
    "HOST": ("host", None),
    "PORT": ("port", _int(1, 65535)),
    "GALAXY_PUBLIC_URL": ("public_url", _public_url),
    "GALAXY_STATIC_DIR": ("static_dir", Path),
    "MEDIA_DIR": ("media_dir", Path),
    "SENTRY_DSN": ("sentry_dsn", None),
    "GALAXY_ENV": ("environment", None),
    "LOG_LEVEL": ("log_level", _choice("DEBUG", "INFO", "WARNING", "ERROR")),
    "LOG_JSON": ("log_json", _bool),
    "SESSION_MAX_AGE": ("session_max_age", _int(1, 365 * 24 * 3600)),
    "SECURE_COOKIES": ("secure_cookies", _bool),
    "MAX_REQUEST_BYTES": ("max_request_bytes", _int(1024, 1024**3)),
    "MAX_IMPORT_BYTES": ("max_import_bytes", _int(1024, 64 * 1024**2)),
    "MAX_NODES": ("max_nodes", _int(1, 100_000)),
    "MAX_EDGES": ("max_edges", _int(1, 400_000)),
    "LOGIN_LIMIT_PER_IP": ("login_limit_per_ip", _int(1, 1_000_000)),
    "LOGIN_LIMIT_PER_EMAIL": ("login_limit_per_email", _int(1, 1_000_000)),
    "LOGIN_LIMIT_WINDOW": ("login_limit_window", _int(1, 86_400)),
    "SIGNUP_LIMIT_PER_IP": ("signup_limit_per_ip", _int(1, 1_000_000)),
    "DB_POOL_MAX": ("db_pool_max", _int(1, 1000)),
    "GALAXY_EXTRA_NODES": ("extra_nodes", _module_path),
    "MAX_ACTIVE_RUNS": ("max_active_runs", _int(1, 100_000)),
    "RUN_START_LIMIT": ("run_start_limit", _int(1, 1_000_000)),
    "NODE_TIMEOUT": ("node_timeout", _int(1, 7 * 24 * 3600)),
    "NODE_MAX_ATTEMPTS": ("node_max_attempts", _int(1, 100)),
    "RUN_LEASE_SECONDS": ("run_lease_seconds", _int(1, 3600)),
    "WORKER_MAX_JOBS": ("worker_max_jobs", _int(1, 10_000)),
    "WORKER_POLL_DELAY_MS": ("worker_poll_delay_ms", _int(1, 10_000)),
    "WORKER_METRICS_PORT": ("worker_metrics_port", _int(0, 65535)),
    "MAX_WS_MESSAGE_BYTES": ("max_ws_message_bytes", _int(1024, 64 * 1024**2)),
    "MAX_DOCUMENT_BYTES": ("max_document_bytes", _int(1024, 1024**3)),
    "MAX_CONNECTIONS_PER_USER": ("max_connections_per_user", _int(1, 100_000)),
    "MAX_CONNECTIONS_PER_DOCUMENT": ("max_connections_per_document", _int(1, 100_000)),
    "WS_SEND_QUEUE": ("ws_send_queue", _int(8, 1_000_000)),
    "WS_SEND_QUEUE_BYTES": ("ws_send_queue_bytes", _int(64 * 1024, 1024**3)),
    "VERSION_EVERY": ("version_every", _int(10, 7 * 24 * 3600)),
    "COLLAB_UNLOAD_AFTER": ("collab_unload_after", _int(0, 3600)),
    "COLLAB_FLUSH_INTERVAL": ("collab_flush_interval", _float(0.01, 60)),
    "COLLAB_SWEEP_INTERVAL": ("collab_sweep_interval", _float(0.1, 3600)),
    "COLLAB_STALE_AFTER": ("collab_stale_after", _float(1, 86_400)),
    "DOCUMENT_PROCESSES": ("document_processes", _int(1, 64)),
    "TRUSTED_PROXIES": ("trusted_proxies", _networks),
    "METRICS_TOKEN": ("metrics_token", _metrics_token),
    "METRICS_HOST": ("metrics_host", None),
    "METRICS_PORT": ("metrics_port", _int(0, 65535)),
    "MAX_IMAGE_BYTES": ("max_image_bytes", _int(1024, 1024**3)),
    "MAX_VIDEO_BYTES": ("max_video_bytes", _int(1024, 64 * 1024**3)),
    "MAX_IMAGE_PIXELS": ("max_image_pixels", _int(1024, 1_000_000_000)),
    "GALAXY_MODELS": ("models", _models),
    "GALAXY_DEFAULT_MODEL": ("default_model", _model),
    "LLM_BASE_URL": ("llm_base_url", lambda raw: _url("http", "https")(raw).rstrip("/")),
    "LLM_API_KEY": ("llm_api_key", None),
    "LLM_TIMEOUT": ("llm_timeout", _int(1, 3600)),
    "LLM_MAX_RETRIES": ("llm_max_retries", _int(0, 10)),
    "LLM_RETRY_DELAY_MS": ("llm_retry_delay_ms", _int(1, 60_000)),
    "WORKER_MEDIA_PROCESSES": ("worker_media_processes", _int(0, 256)),
}
# Provider credentials litellm reads itself; settings only note which ones are present.
PROVIDER_KEY_VARIABLES = (
    "OPENAI_API_KEY",
    "GEMINI_API_KEY",
    "ANTHROPIC_API_KEY",
    "MISTRAL_API_KEY",
    "GROQ_API_KEY",
    "OPENROUTER_API_KEY",
    "DEEPSEEK_API_KEY",
    "OLLAMA_API_BASE",
)
_REQUIRED = ("DATABASE_URL", "REDIS_URL", "SECRET_KEY")


def load_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Read settings from `environ` (default: the process environment).

    Keyword overrides win over the environment; tests use them to build variants.
    """
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for variable, (field, parse) in _VARIABLES.items():
        raw = env.get(variable)
        if raw is None or raw.strip() == "":
            continue
        try:
            values[field] = parse(raw) if parse else raw
        except ValueError as err:
            raise SettingsError(f"{variable} is invalid: expected {err}.") from None
    values["provider_keys"] = frozenset(v for v in PROVIDER_KEY_VARIABLES if env.get(v, "").strip())
    values.update(overrides)
    for variable in _REQUIRED:
        field = _VARIABLES[variable][0]
        if not values.get(field):
            raise SettingsError(f"{variable} is not set: expected {_describe(variable)}.")
    settings = Settings(**values)
    if settings.extra_nodes:
        _check_extra_nodes(settings.extra_nodes)
    if settings.public_url.startswith("https://") and "secure_cookies" not in values:
        settings = msgspec.structs.replace(settings, secure_cookies=True)
    return settings


def _check_extra_nodes(module: str) -> None:
    """Import the extension module now, so a bad one stops start-up with one line rather than a
    traceback from deep inside the web or worker process."""
    from engine.nodes import load_node_types

    try:
        load_node_types(module)
    except ImportError as err:
        raise SettingsError(f"GALAXY_EXTRA_NODES is invalid: cannot import {module} ({err}).") from None
    except Exception as err:  # any error raised while importing or reading the module
        reason = " ".join(str(err).split()) or type(err).__name__
        raise SettingsError(f"GALAXY_EXTRA_NODES is invalid: {reason}") from None


def to_environment(settings: Settings) -> dict[str, str]:
    """The environment variables that `load_settings` reads back as `settings`."""
    env = {}
    for variable, (field, _) in _VARIABLES.items():
        value = getattr(settings, field)
        if isinstance(value, bool):
            env[variable] = "true" if value else "false"
        elif isinstance(value, tuple):
            env[variable] = ",".join(value)
        elif isinstance(value, float) and value.is_integer():
            env[variable] = str(int(value))
        else:
            env[variable] = str(value)
    return env


def _describe(variable: str) -> str:
    return {
        "DATABASE_URL": "a URL starting with postgresql://",
        "REDIS_URL": "a URL starting with redis://",
        "SECRET_KEY": "a random string of at least 32 characters (e.g. `openssl rand -hex 32`)",
    }[variable]
