"""Settings read from environment variables only, validated once at start.

Each setting is declared once: a field of `Settings` annotated with its variable (`env`, with a
parser for values that need one) or its variable and bounds (`bounded`). `load_settings` reads
every variable, then converts them in one `msgspec.convert` call. A missing or malformed value
raises `SettingsError` whose message is one line naming the variable and what it expects; the
entry points print that line and exit.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, get_type_hints
from urllib.parse import urlsplit

import msgspec

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class SettingsError(Exception):
    """A setting is missing or malformed; `str(err)` is the one-line explanation."""


def env(variable: str, parse: Callable[[str], Any] | None = None) -> msgspec.Meta:
    """A setting read from `variable`, through `parse` (which raises ValueError naming what it
    expects) or as the raw string."""
    return msgspec.Meta(extra={"env": variable, "parse": parse})


def bounded(variable: str, minimum: float, maximum: float) -> msgspec.Meta:
    """A number read from `variable`, between `minimum` and `maximum` inclusive."""
    return msgspec.Meta(ge=minimum, le=maximum, extra={"env": variable})


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


def _secrets(raw: str) -> tuple[str, ...]:
    keys = tuple(raw.replace(",", " ").split())
    for key in keys:
        _secret(key)
    return keys


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


def _base_url(raw: str) -> str:
    return _url("http", "https")(raw).rstrip("/")


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """Everything the web and worker processes need to know about their environment."""

    database_url: Annotated[str, env("DATABASE_URL", _url("postgres", "postgresql"))]
    redis_url: Annotated[str, env("REDIS_URL", _url("redis", "rediss", "unix"))]
    secret_key: Annotated[str, env("SECRET_KEY", _secret)]
    # Earlier SECRET_KEYs, still accepted for decrypting stored webhook secrets while a rotation
    # is under way (space- or comma-separated); `galaxy reencrypt-secrets` finishes it.
    secret_key_previous: Annotated[tuple[str, ...], env("SECRET_KEY_PREVIOUS", _secrets)] = ()
    redis_namespace: Annotated[str, env("GALAXY_REDIS_NAMESPACE", _namespace)] = "galaxy"
    host: Annotated[str, env("HOST")] = "127.0.0.1"
    port: Annotated[int, bounded("PORT", 1, 65535)] = 8000
    public_url: Annotated[str, env("GALAXY_PUBLIC_URL", _public_url)] = ""
    static_dir: Annotated[Path, env("GALAXY_STATIC_DIR", Path)] = PROJECT_ROOT / "static" / "dist"
    media_dir: Annotated[Path, env("MEDIA_DIR", Path)] = PROJECT_ROOT / ".galaxy" / "media"
    sentry_dsn: Annotated[str, env("SENTRY_DSN")] = ""
    environment: Annotated[str, env("GALAXY_ENV")] = "development"
    log_level: Annotated[str, env("LOG_LEVEL", _choice("DEBUG", "INFO", "WARNING", "ERROR"))] = "INFO"
    log_json: Annotated[bool, env("LOG_JSON", _bool)] = True
    session_max_age: Annotated[int, bounded("SESSION_MAX_AGE", 1, 365 * 24 * 3600)] = 14 * 24 * 3600
    secure_cookies: Annotated[bool, env("SECURE_COOKIES", _bool)] = False
    max_request_bytes: Annotated[int, bounded("MAX_REQUEST_BYTES", 1024, 1024**3)] = 2 * 1024 * 1024
    max_import_bytes: Annotated[int, bounded("MAX_IMPORT_BYTES", 1024, 64 * 1024**2)] = 1024 * 1024
    max_nodes: Annotated[int, bounded("MAX_NODES", 1, 100_000)] = 500
    max_edges: Annotated[int, bounded("MAX_EDGES", 1, 400_000)] = 2000
    login_limit_per_ip: Annotated[int, bounded("LOGIN_LIMIT_PER_IP", 1, 1_000_000)] = 30
    login_limit_per_email: Annotated[int, bounded("LOGIN_LIMIT_PER_EMAIL", 1, 1_000_000)] = 10
    login_limit_window: Annotated[int, bounded("LOGIN_LIMIT_WINDOW", 1, 86_400)] = 300
    signup_limit_per_ip: Annotated[int, bounded("SIGNUP_LIMIT_PER_IP", 1, 1_000_000)] = 20
    db_pool_max: Annotated[int, bounded("DB_POOL_MAX", 1, 1000)] = 10
    extra_nodes: Annotated[str, env("GALAXY_EXTRA_NODES", _module_path)] = ""
    max_active_runs: Annotated[int, bounded("MAX_ACTIVE_RUNS", 1, 100_000)] = 10
    run_start_limit: Annotated[int, bounded("RUN_START_LIMIT", 1, 1_000_000)] = 60
    node_timeout: Annotated[int, bounded("NODE_TIMEOUT", 1, 7 * 24 * 3600)] = 600
    node_max_attempts: Annotated[int, bounded("NODE_MAX_ATTEMPTS", 1, 100)] = 3
    run_lease_seconds: Annotated[int, bounded("RUN_LEASE_SECONDS", 1, 3600)] = 30
    worker_max_jobs: Annotated[int, bounded("WORKER_MAX_JOBS", 1, 10_000)] = 100
    worker_poll_delay_ms: Annotated[int, bounded("WORKER_POLL_DELAY_MS", 1, 10_000)] = 50
    worker_metrics_port: Annotated[int, bounded("WORKER_METRICS_PORT", 0, 65535)] = 0
    max_ws_message_bytes: Annotated[int, bounded("MAX_WS_MESSAGE_BYTES", 1024, 64 * 1024**2)] = 1024 * 1024
    max_document_bytes: Annotated[int, bounded("MAX_DOCUMENT_BYTES", 1024, 1024**3)] = 8 * 1024 * 1024
    max_connections_per_user: Annotated[int, bounded("MAX_CONNECTIONS_PER_USER", 1, 100_000)] = 20
    max_connections_per_document: Annotated[int, bounded("MAX_CONNECTIONS_PER_DOCUMENT", 1, 100_000)] = 300
    ws_send_queue: Annotated[int, bounded("WS_SEND_QUEUE", 8, 1_000_000)] = 1024
    ws_send_queue_bytes: Annotated[int, bounded("WS_SEND_QUEUE_BYTES", 64 * 1024, 1024**3)] = 16 * 1024 * 1024
    ws_compression: Annotated[bool, env("WS_COMPRESSION", _bool)] = False  # permessage-deflate
    collab_flush_interval: Annotated[float, bounded("COLLAB_FLUSH_INTERVAL", 0.01, 60)] = 0.5
    collab_sweep_interval: Annotated[float, bounded("COLLAB_SWEEP_INTERVAL", 0.1, 3600)] = 5.0
    collab_stale_after: Annotated[float, bounded("COLLAB_STALE_AFTER", 1, 86_400)] = 10.0
    collab_unload_after: Annotated[int, bounded("COLLAB_UNLOAD_AFTER", 0, 3600)] = 10
    # Where web processes spool updates before showing them (collab/spool.py); every web process
    # of one machine needs the same directory, kept across restarts (a volume in a container).
    collab_spool: Annotated[bool, env("COLLAB_SPOOL", _bool)] = True
    collab_spool_dir: Annotated[Path, env("COLLAB_SPOOL_DIR", Path)] = PROJECT_ROOT / ".galaxy" / "spool"
    version_every: Annotated[int, bounded("VERSION_EVERY", 10, 7 * 24 * 3600)] = 600
    document_processes: Annotated[int, bounded("DOCUMENT_PROCESSES", 1, 64)] = 1
    trusted_proxies: Annotated[str, env("TRUSTED_PROXIES", _networks)] = ""
    metrics_token: Annotated[str, env("METRICS_TOKEN", _metrics_token)] = ""
    metrics_host: Annotated[str, env("METRICS_HOST")] = "127.0.0.1"
    metrics_port: Annotated[int, bounded("METRICS_PORT", 0, 65535)] = 0
    max_image_bytes: Annotated[int, bounded("MAX_IMAGE_BYTES", 1024, 1024**3)] = 25 * 1024 * 1024
    max_video_bytes: Annotated[int, bounded("MAX_VIDEO_BYTES", 1024, 64 * 1024**3)] = 500 * 1024 * 1024
    # Pillow's own decompression-bomb threshold by default.
    max_image_pixels: Annotated[int, bounded("MAX_IMAGE_PIXELS", 1024, 1_000_000_000)] = 89_478_485
    models: Annotated[tuple[str, ...], env("GALAXY_MODELS", _models)] = ()
    default_model: Annotated[str, env("GALAXY_DEFAULT_MODEL", _model)] = ""
    llm_base_url: Annotated[str, env("LLM_BASE_URL", _base_url)] = ""
    llm_api_key: Annotated[str, env("LLM_API_KEY")] = ""
    llm_timeout: Annotated[int, bounded("LLM_TIMEOUT", 1, 3600)] = 120
    llm_max_retries: Annotated[int, bounded("LLM_MAX_RETRIES", 0, 10)] = 3
    llm_retry_delay_ms: Annotated[int, bounded("LLM_RETRY_DELAY_MS", 1, 60_000)] = 1000
    worker_media_processes: Annotated[int, bounded("WORKER_MEDIA_PROCESSES", 0, 256)] = 0  # 0: one per CPU but one
    # Webhooks (server/hooks): requests per hook per minute, body size, how long a rotated-out
    # secret still verifies, delivery log rows kept per hook, and the callbacks' delivery.
    webhook_rate_limit: Annotated[int, bounded("WEBHOOK_RATE_LIMIT", 1, 10_000_000)] = 600
    webhook_max_body_bytes: Annotated[int, bounded("WEBHOOK_MAX_BODY_BYTES", 1024, 64 * 1024**2)] = 1024 * 1024
    webhook_rotation_grace: Annotated[int, bounded("WEBHOOK_ROTATION_GRACE", 0, 30 * 24 * 3600)] = 24 * 3600
    webhook_delivery_retention: Annotated[int, bounded("WEBHOOK_DELIVERY_RETENTION", 10, 1_000_000)] = 1000
    webhook_callback_attempts: Annotated[int, bounded("WEBHOOK_CALLBACK_ATTEMPTS", 1, 20)] = 6
    webhook_callback_backoff_ms: Annotated[int, bounded("WEBHOOK_CALLBACK_BACKOFF_MS", 1, 3_600_000)] = 2000
    webhook_callback_timeout: Annotated[float, bounded("WEBHOOK_CALLBACK_TIMEOUT", 0.1, 300)] = 10.0
    # Let callbacks reach loopback, private and link-local addresses (never cloud metadata
    # endpoints), and plain http: for receivers on this machine or a private network.
    webhook_callback_allow_private: Annotated[bool, env("WEBHOOK_CALLBACK_ALLOW_PRIVATE", _bool)] = False
    webhook_callback_allow_http: Annotated[bool, env("WEBHOOK_CALLBACK_ALLOW_HTTP", _bool)] = False
    # Names (never values) of the provider key variables that are set, for GET /api/models.
    provider_keys: frozenset[str] = frozenset()


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
_REQUIRED = ("database_url", "redis_url", "secret_key")


class _Field(msgspec.Struct, frozen=True):
    name: str
    variable: str
    type: Any
    meta: msgspec.Meta


def _fields() -> list[_Field]:
    hints = get_type_hints(Settings, include_extras=True)
    fields = []
    for name, hint in hints.items():
        metas = [m for m in getattr(hint, "__metadata__", ()) if isinstance(m, msgspec.Meta)]
        if metas and metas[0].extra and "env" in metas[0].extra:
            fields.append(_Field(name, metas[0].extra["env"], hint.__origin__, metas[0]))
    return fields


FIELDS = _fields()
_BY_NAME = {field.name: field for field in FIELDS}


def load_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Read settings from `environ` (default: the process environment).

    Keyword overrides win over the environment; tests use them to build variants.
    """
    source = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for field in FIELDS:
        raw = source.get(field.variable)
        if raw is None or raw.strip() == "":
            continue
        parse = field.meta.extra.get("parse") if field.meta.extra else None
        try:
            values[field.name] = parse(raw) if parse else (raw.strip() if field.type in (int, float) else raw)
        except ValueError as err:
            raise SettingsError(f"{field.variable} is invalid: expected {err}.") from None
    values["provider_keys"] = frozenset(v for v in PROVIDER_KEY_VARIABLES if source.get(v, "").strip())
    values.update(overrides)
    for name in _REQUIRED:
        if not values.get(name):
            variable = _BY_NAME[name].variable
            raise SettingsError(f"{variable} is not set: expected {_describe(variable)}.")
    try:
        settings = msgspec.convert(values, Settings, strict=False, dec_hook=_decode)
    except msgspec.ValidationError as err:
        raise SettingsError(_explain(err)) from None
    if settings.extra_nodes:
        _check_extra_nodes(settings.extra_nodes)
    if settings.public_url.startswith("https://") and "secure_cookies" not in values:
        settings = msgspec.structs.replace(settings, secure_cookies=True)
    return settings


def _decode(kind: type, value: Any) -> Any:
    if kind is Path:
        return Path(value)
    raise NotImplementedError(kind)


def _explain(err: msgspec.ValidationError) -> str:
    """One line naming the variable of the field msgspec refused, and what it expects."""
    match = re.search(r"\$\.(\w+)", str(err))
    field = _BY_NAME.get(match.group(1)) if match else None
    if field is None:
        return f"A setting is invalid: {err}."
    low, high = field.meta.ge, field.meta.le
    if field.type is int:
        return f"{field.variable} is invalid: expected an integer between {low} and {high}."
    if field.type is float:
        return f"{field.variable} is invalid: expected a number of seconds between {low:g} and {high:g}."
    return f"{field.variable} is invalid: {err}."


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
    variables = {}
    for field in FIELDS:
        value = getattr(settings, field.name)
        if isinstance(value, bool):
            variables[field.variable] = "true" if value else "false"
        elif isinstance(value, tuple):
            variables[field.variable] = ",".join(value)
        elif isinstance(value, float) and value.is_integer():
            variables[field.variable] = str(int(value))
        else:
            variables[field.variable] = str(value)
    return variables


def _describe(variable: str) -> str:
    return {
        "DATABASE_URL": "a URL starting with postgresql://",
        "REDIS_URL": "a URL starting with redis://",
        "SECRET_KEY": "a random string of at least 32 characters (e.g. `openssl rand -hex 32`)",
    }[variable]
