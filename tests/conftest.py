"""Test services: the Postgres and Redis on 127.0.0.1 when they answer, embedded ones otherwise.

Each run gets its own database and its own Redis namespace, so runs never see each other's data.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from server.embedded import EmbeddedPostgres, EmbeddedRedis, port_open
from server.settings import PROJECT_ROOT, Settings, load_settings
from tests.support import METRICS_TOKEN, Clients, ServiceUrls, User, admin_sql, run_server_in_thread

RUN_ID = secrets.token_hex(4)


@pytest.fixture(scope="session")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceUrls]:
    embedded: list[EmbeddedPostgres | EmbeddedRedis] = []
    data = tmp_path_factory.mktemp("services")
    if port_open("127.0.0.1", 5432):
        admin_url = os.environ.get("TEST_POSTGRES_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    else:
        pg = EmbeddedPostgres(Path("/tmp") / f"galaxy-pg-{RUN_ID}")
        admin_url = pg.start()
        embedded.append(pg)
    if port_open("127.0.0.1", 6379):
        redis_url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    else:
        embedded_redis = EmbeddedRedis(data / "redis", persist=False)
        redis_url = embedded_redis.start()
        embedded.append(embedded_redis)
    database = f"galaxy_test_{RUN_ID}"
    admin_sql(admin_url, f'CREATE DATABASE "{database}"')
    database_url = _with_database(admin_url, database)
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url, "SECRET_KEY": "x" * 32}
    subprocess.run(
        [sys.executable, "-m", "server.cli", "migrate"],
        env=env,
        cwd=PROJECT_ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    urls = ServiceUrls(admin_url=admin_url, database_url=database_url, redis_url=redis_url, namespace=f"test-{RUN_ID}")
    try:
        yield urls
    finally:
        admin_sql(admin_url, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        client = redis.Redis.from_url(redis_url)
        for key in client.scan_iter(match=f"{urls.namespace}*", count=1000):
            client.delete(key)
        client.close()
        for service in reversed(embedded):
            service.stop()


def _with_database(admin_url: str, database: str) -> str:
    if "?" in admin_url:  # Unix-socket form: postgresql://user:@/postgres?host=/path
        head, query = admin_url.split("?", 1)
        return head.rsplit("/", 1)[0] + f"/{database}?{query}"
    return admin_url.rsplit("/", 1)[0] + f"/{database}"


@pytest.fixture(scope="session")
def settings(services: ServiceUrls, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return load_settings(
        {},
        database_url=services.database_url,
        redis_url=services.redis_url,
        secret_key=secrets.token_hex(32),
        redis_namespace=services.namespace,
        media_dir=tmp_path_factory.mktemp("media"),
        log_json=True,
        log_level="WARNING",
        login_limit_per_ip=100_000,
        login_limit_per_email=100_000,
        signup_limit_per_ip=100_000,
        metrics_token=METRICS_TOKEN,
    )


@pytest.fixture(scope="session")
def base_url(settings: Settings) -> Iterator[str]:
    """One real HTTP server (uvicorn) shared by the tests that need default settings."""
    with run_server_in_thread(settings) as url:
        yield url


@pytest.fixture
def clients() -> Iterator[Clients]:
    """`clients(base_url, **options)` opens an httpx client that is closed after the test."""
    tracker = Clients()
    yield tracker
    tracker.close()


@pytest.fixture
def new_user(clients: Clients, base_url: str) -> Callable[..., User]:
    """`new_user(name)`: a freshly signed-up user on the shared server."""
    return lambda name="": clients.user(base_url, name)


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    """Async tests (`pytest.mark.anyio`) run on asyncio, as the servers do."""
    return "asyncio"
