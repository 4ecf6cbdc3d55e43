"""Attacks by a signed-up member or a leaked secret, each reproduced against a real server."""

from __future__ import annotations

import asyncio
import gzip
import http.server
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import msgspec
import pytest

from server.embedded import free_port
from server.settings import PROJECT_ROOT, Settings
from tests.collab_client import YClient
from tests.support import METRICS_HEADERS, PASSWORD, Clients, User, assert_problem, run_server, server_process

NewUser = Callable[..., User]


@pytest.fixture(scope="module")
def strict_url(settings: Settings) -> Iterator[str]:
    """A server with the default per-email sign-in limit (10)."""
    strict = msgspec.structs.replace(
        settings, login_limit_per_email=10, redis_namespace=settings.redis_namespace + "-strict"
    )
    with run_server(strict) as url:
        yield url


def test_a_token_cannot_mint_tokens(new_user: NewUser) -> None:
    user = new_user()
    script = user.token_client()
    assert_problem(script.post("/api/tokens", json={"name": "successor"}), 403, "sign in")
    assert len(user.http.get("/api/tokens").json()["items"]) == 1  # only the one the session made
    assert user.http.post("/api/tokens", json={"name": "by session"}).status_code == 201


def test_parallel_wrong_passwords_stop_at_the_email_limit(strict_url: str, clients: Clients) -> None:
    user = clients.user(strict_url)

    async def attack() -> list[int]:
        async with httpx.AsyncClient(base_url=strict_url, timeout=60) as client:
            body = {"email": user.email, "password": "wrong wrong wrong"}
            answers = await asyncio.gather(*(client.post("/api/auth/login", json=body) for _ in range(40)))
        return [a.status_code for a in answers]

    statuses = asyncio.run(attack())
    assert statuses.count(401) == 10 and statuses.count(429) == 30, statuses
    # Even the right password waits for the window now.
    right = clients(strict_url).post("/api/auth/login", json={"email": user.email, "password": PASSWORD})
    assert_problem(right, 429, "try again")


def test_emails_are_normalised_before_lookups(base_url: str, clients: Clients) -> None:
    client = clients(base_url)
    body = {"email": "\uff3aoë.Case@Example.COM", "password": PASSWORD, "name": "Zoë"}
    assert client.post("/api/auth/signup", json=body).status_code == 201
    again = clients(base_url).post("/api/auth/signup", json={**body, "email": "zoë.case@example.com"})
    assert_problem(again, 409, "already exists")
    login = clients(base_url).post("/api/auth/login", json={"email": "ZOË.CASE@example.com", "password": PASSWORD})
    assert login.status_code == 200 and login.json()["email"] == "zoë.case@example.com"


@pytest.mark.parametrize(
    "name", ["Mallory\u202egnp.exe", "ad\u200bmin", "\u2066Eve\u2069", "Bob\ufeff", "\u200f", "Zero\u200dWidth"]
)
def test_display_names_refuse_bidi_and_zero_width_characters(base_url: str, clients: Clients, name: str) -> None:
    body = {"email": "spoof@example.com", "password": PASSWORD, "name": name}
    assert_problem(clients(base_url).post("/api/auth/signup", json=body), 400, "visible text (no control, bidi")


def test_ordinary_names_in_any_script_are_welcome(base_url: str, clients: Clients) -> None:
    for name in ("Zoë 😀", "مريم", "東京 太郎"):
        body = {"email": f"n{len(name)}{ord(name[0])}@example.com", "password": PASSWORD, "name": name}
        assert clients(base_url).post("/api/auth/signup", json=body).status_code == 201


def test_credentials_never_reach_the_logs(settings: Settings, clients: Clients, tmp_path: Path) -> None:
    log_path = tmp_path / "web.log"
    chatty = msgspec.structs.replace(settings, log_level="INFO", redis_namespace=settings.redis_namespace + "-logs")
    with log_path.open("wb") as log, server_process(chatty, log=log) as server:
        user = clients.user(server.url, "logged")
        workflow_id = user.create_workflow()["id"]
        created = user.http.post("/api/tokens", json={"name": "ws"}).json()
        token = created["token"]
        ws_url = server.url.replace("http://", "ws://") + f"/ws/workflows/{workflow_id}?token={token}"

        async def socket() -> None:
            client = await (await YClient(ws_url).connect()).wait_synced()
            await client.close()

        asyncio.run(socket())
        script = clients(server.url, headers={"authorization": f"Bearer {token}"})
        assert script.get("/api/workflows", params={"token": token}).status_code == 200
        assert httpx.get(f"{server.url}/api/auth/me", headers={"authorization": f"Bearer {token}x"}).status_code == 401
        session = user.http.cookies["galaxy_session"]
    text = log_path.read_text()
    assert "WebSocket /ws/workflows/" in text and "token=glx_[redacted]" in text  # uvicorn's line, redacted
    secret_part = token.removeprefix("glx_")
    for secret in (token, secret_part, secret_part[:12], session):
        assert secret not in text


class _Collector(http.server.BaseHTTPRequestHandler):
    received: list[bytes] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        self.received.append(gzip.decompress(body) if body[:2] == b"\x1f\x8b" else body)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_sentry_events_are_scrubbed_of_credentials() -> None:
    server = http.server.HTTPServer(("127.0.0.1", 0), _Collector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    token = "glx_" + "S3cr3tT0ken" * 3
    script = (
        "import sentry_sdk, sys\n"
        "from server.settings import load_settings\n"
        "from server.observability import init_sentry\n"
        "s = load_settings({}, database_url='postgresql://x@127.0.0.1/x', redis_url='redis://127.0.0.1', "
        "secret_key='k'*32, sentry_dsn=sys.argv[1])\n"
        "init_sentry(s)\n"
        "token = sys.argv[2]\n"
        "sentry_sdk.set_context('request', {'url': '/ws/workflows/x?token=' + token, "
        "'headers': {'Authorization': 'Bearer ' + token}})\n"
        "try:\n"
        "    raise ValueError('bad token ' + token)\n"
        "except ValueError:\n"
        "    sentry_sdk.capture_exception()\n"
        "sentry_sdk.capture_message('probe with ' + token)\n"
        "sentry_sdk.flush(5)\n"
    )
    try:
        dsn = f"http://public@127.0.0.1:{server.server_port}/1"
        result = subprocess.run(
            [sys.executable, "-c", script, dsn, token], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, result.stderr
    finally:
        server.shutdown()
        server.server_close()
    sent = b"".join(_Collector.received)
    assert b"probe with glx_[redacted]" in sent and b"bad token glx_[redacted]" in sent
    assert token.encode() not in sent and b"S3cr3tT0ken" not in sent


def _ws(base_url: str, workflow_id: str, query: str = "") -> str:
    return base_url.replace("http://", "ws://") + f"/ws/workflows/{workflow_id}{query}"


def test_revoking_a_token_closes_its_sockets_on_every_process(
    settings: Settings, base_url: str, new_user: NewUser
) -> None:
    user = new_user("revoked")
    workflow_id = user.create_workflow()["id"]
    created = user.http.post("/api/tokens", json={"name": "ws"}).json()
    other = user.http.post("/api/tokens", json={"name": "kept"}).json()
    with run_server(settings) as second:

        async def scenario() -> None:
            here = await (
                await YClient(_ws(base_url, workflow_id, f"?token={created['token']}")).connect()
            ).wait_synced()
            there = await (
                await YClient(_ws(second, workflow_id, f"?token={created['token']}")).connect()
            ).wait_synced()
            kept = await (await YClient(_ws(second, workflow_id, f"?token={other['token']}")).connect()).wait_synced()
            assert user.http.delete(f"/api/tokens/{created['id']}").status_code == 204  # on the first process
            assert await here.wait_closed(5) == 4401 and await there.wait_closed(5) == 4401
            assert "revoked" in there.close_reason
            assert not kept.closed.is_set()  # another token of the same user is untouched
            await kept.close()

        asyncio.run(scenario())


def test_signing_out_closes_the_sessions_sockets(settings: Settings, base_url: str, new_user: NewUser) -> None:
    user = new_user("leaving")
    workflow_id = user.create_workflow()["id"]
    cookie = {"Cookie": f"galaxy_session={user.http.cookies['galaxy_session']}"}
    with run_server(settings) as second:

        async def scenario() -> None:
            socket = await (await YClient(_ws(second, workflow_id), additional_headers=cookie).connect()).wait_synced()
            assert user.http.post("/api/auth/logout").status_code == 204
            assert await socket.wait_closed(5) == 4401 and "signed out" in socket.close_reason

        asyncio.run(scenario())


@pytest.mark.parametrize(("trusted", "refused"), [("", True), ("127.0.0.1", False)])
def test_only_trusted_proxies_may_name_the_client(
    settings: Settings, clients: Clients, trusted: str, refused: bool
) -> None:
    """By default an X-Forwarded-For header changes nothing, so rotating it cannot dodge the
    per-address sign-in limit; behind a proxy named in TRUSTED_PROXIES it names the client."""
    namespace = f"{settings.redis_namespace}-xff{trusted}"
    limited = msgspec.structs.replace(
        settings, login_limit_per_ip=3, trusted_proxies=trusted, redis_namespace=namespace
    )
    with run_server(limited) as url:
        client = clients(url)
        answers = [
            client.post(
                "/api/auth/login",
                json={"email": f"nobody{i}@example.com", "password": "wrong wrong"},
                headers={"x-forwarded-for": f"203.0.113.{i}"},
            ).status_code
            for i in range(5)
        ]
    assert answers == ([401, 401, 401, 429, 429] if refused else [401] * 5)


def test_metrics_are_off_the_public_port_unless_a_token_is_set(settings: Settings) -> None:
    port = free_port()
    private = msgspec.structs.replace(
        settings, metrics_token="", metrics_port=port, redis_namespace=settings.redis_namespace + "-metrics"
    )
    with run_server(private) as url:
        assert_problem(httpx.get(f"{url}/metrics"), 404, "METRICS_PORT")
        scraped = httpx.get(f"http://127.0.0.1:{port}/metrics")
        assert scraped.status_code == 200 and "galaxy_event_loop_lag_seconds_bucket" in scraped.text


def test_metrics_token_is_checked(base_url: str) -> None:
    assert_problem(httpx.get(f"{base_url}/metrics"), 401, "METRICS_TOKEN")
    assert_problem(httpx.get(f"{base_url}/metrics", headers={"authorization": "Bearer nope"}), 401)
    assert httpx.get(f"{base_url}/metrics", headers=METRICS_HEADERS).status_code == 200
