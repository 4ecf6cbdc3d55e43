"""Helpers shared by the tests: a real uvicorn server in a thread, HTTP clients, SQL."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

import asyncpg
import httpx
import uvicorn

from server.app import create_app
from server.embedded import free_port
from server.settings import PROJECT_ROOT, Settings, to_environment
from server.websocket_protocol import uvicorn_options

PASSWORD = "correct horse battery"
METRICS_TOKEN = "test-metrics-token-0123456789"
METRICS_HEADERS = {"authorization": f"Bearer {METRICS_TOKEN}"}


@dataclass(frozen=True)
class ServiceUrls:
    admin_url: str
    database_url: str
    redis_url: str
    namespace: str


def admin_sql(admin_url: str, statement: str) -> None:
    async def run() -> None:
        connection = await asyncpg.connect(admin_url)
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    asyncio.run(run())


def sql(database_url: str, query: str, *args: Any) -> list[dict[str, Any]]:
    """Run one query on the test database from synchronous test code."""

    async def run() -> list[dict[str, Any]]:
        connection = await asyncpg.connect(database_url)
        try:
            return [dict(r) for r in await connection.fetch(query, *args)]
        finally:
            await connection.close()

    return asyncio.run(run())


@dataclass
class ServerProcess:
    url: str
    process: subprocess.Popen[bytes]


@contextlib.contextmanager
def run_server(settings: Settings) -> Iterator[str]:
    """Serve the app with `settings` in its own `galaxy web` process, over real HTTP.

    A process per server, because Piccolo binds tables to one engine per process: a second app
    in this process would take over the tables of the one already serving the other tests.
    """
    with server_process(settings) as server:
        yield server.url


@contextlib.contextmanager
def server_process(settings: Settings, log: IO[bytes] | None = None) -> Iterator[ServerProcess]:
    """Like `run_server`, with the process itself at hand (to kill it); `log` receives its output."""
    port = free_port()
    env = {**os.environ, **to_environment(settings), "HOST": "127.0.0.1", "PORT": str(port), "LOG_JSON": "false"}
    output = log if log is not None else subprocess.DEVNULL
    process = subprocess.Popen(
        [sys.executable, "-m", "server.cli", "web"], env=env, cwd=PROJECT_ROOT, stdout=output, stderr=output,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError("test server did not start")
        time.sleep(0.05)
    try:
        yield ServerProcess(url, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def run_server_in_thread(settings: Settings) -> Iterator[str]:
    """Serve `create_app(settings)` in a background thread of this process (one per process)."""
    with serve_in_thread(create_app(settings), lifespan="on", **uvicorn_options(settings)) as url:
        yield url


@contextlib.contextmanager
def serve_in_thread(app: Any, **options: Any) -> Iterator[str]:
    """Serve an ASGI app with uvicorn (and `options`) in a background thread; yield its URL."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, **{"log_config": None, **options})
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)


class Clients:
    """Opens httpx clients for a test and closes every one of them afterwards."""

    def __init__(self) -> None:
        self._open: list[httpx.Client] = []

    def __call__(self, base_url: str, **options: Any) -> httpx.Client:
        client = httpx.Client(base_url=base_url, timeout=30, **options)
        self._open.append(client)
        return client

    def user(self, base_url: str, name: str = "") -> User:
        return User(self, base_url, name)

    def close(self) -> None:
        for client in self._open:
            client.close()


class User:
    """A signed-in browser-like client (session cookie + CSRF header) for one new account."""

    def __init__(self, clients: Clients, base_url: str, name: str = "") -> None:
        self.email = f"{name or 'user'}-{secrets.token_hex(4)}@example.com"
        self.name = name or "User"
        self._clients = clients
        self.base_url = base_url
        self.http = clients(base_url)
        response = self.http.post(
            "/api/auth/signup", json={"email": self.email, "password": PASSWORD, "name": self.name}
        )
        assert response.status_code == 201, response.text
        me = response.json()
        self.id: str = me["id"]
        self.csrf: str = me["csrf_token"]
        self.http.headers["x-csrf-token"] = self.csrf

    def token_client(self) -> httpx.Client:
        """A script-like client authenticated by a fresh API token (no cookies)."""
        token = self.http.post("/api/tokens", json={"name": "script"}).json()["token"]
        return self._clients(self.base_url, headers={"authorization": f"Bearer {token}"})

    def create_workflow(self, **body: Any) -> dict[str, Any]:
        response = self.http.post("/api/workflows", json=body or {"name": "Test workflow"})
        assert response.status_code == 201, response.text
        workflow: dict[str, Any] = response.json()
        return workflow

    def share(self, workflow_id: str, other: User, role: str) -> None:
        response = self.http.post(f"/api/workflows/{workflow_id}/members", json={"email": other.email, "role": role})
        assert response.status_code == 201, response.text


def assert_problem(response: httpx.Response, status: int, *fragments: str) -> dict[str, Any]:
    """The response is an RFC 9457 problem with `status` whose detail mentions every fragment."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["title"] and body["type"].startswith("urn:galaxy:problem:")
    text = (body.get("detail", "") + " " + str(body.get("errors", ""))).lower()
    for fragment in fragments:
        assert fragment.lower() in text, (fragment, body)
    return body
