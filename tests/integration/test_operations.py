"""Health, readiness, metrics, OpenAPI, request ids, JSON logs and Sentry wiring."""

from __future__ import annotations

import gzip
import http.server
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator

import httpx
import msgspec
import pytest

from server.embedded import free_port
from server.settings import PROJECT_ROOT, Settings
from tests.conftest import _with_database
from tests.support import METRICS_HEADERS, ServiceUrls, User, admin_sql, run_server


def test_health_and_readiness(base_url: str) -> None:
    assert httpx.get(f"{base_url}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{base_url}/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"postgres": "ok", "migrations": "ok", "redis": "ok"}


@pytest.fixture
def empty_database(services: ServiceUrls) -> Iterator[str]:
    name = f"galaxy_empty_{secrets.token_hex(4)}"
    admin_sql(services.admin_url, f'CREATE DATABASE "{name}"')
    yield _with_database(services.admin_url, name)
    admin_sql(services.admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_readiness_reports_unapplied_migrations(settings: Settings, empty_database: str) -> None:
    with run_server(msgspec.structs.replace(settings, database_url=empty_database)) as url:
        ready = httpx.get(f"{url}/readyz")
        assert ready.status_code == 503
        pending = ready.json()["checks"]["migrations"]["pending"]
        assert len(pending) >= 2 and all(p.startswith("20") for p in pending)
        assert httpx.get(f"{url}/healthz").status_code == 200  # alive, just not ready


def test_readiness_reports_redis_down(settings: Settings) -> None:
    with run_server(msgspec.structs.replace(settings, redis_url=f"redis://127.0.0.1:{free_port()}/0")) as url:
        ready = httpx.get(f"{url}/readyz", timeout=10)
        assert ready.status_code == 503 and ready.json()["checks"]["redis"].startswith("error")


def test_metrics_count_requests_by_route(base_url: str, new_user: Callable[..., User]) -> None:
    user = new_user()
    wid = user.create_workflow()["id"]
    user.http.get(f"/api/workflows/{wid}")
    text = httpx.get(f"{base_url}/metrics", headers=METRICS_HEADERS).text
    assert "galaxy_requests_total" in text and "galaxy_request_duration_seconds_bucket" in text
    assert 'path="/api/workflows/{workflow_id}"' in text  # grouped by route, not by id
    assert wid not in text


def test_openapi_documents_the_contract(base_url: str) -> None:
    spec = httpx.get(f"{base_url}/schema/openapi.json").json()
    paths = set(spec["paths"])
    for path in [
        "/api/auth/signup", "/api/auth/login", "/api/auth/logout", "/api/auth/me", "/api/tokens",
        "/api/tokens/{token_id}", "/api/workflows", "/api/workflows/{workflow_id}", "/api/workflows/import",
        "/api/workflows/{workflow_id}/duplicate", "/api/workflows/{workflow_id}/export",
        "/api/workflows/{workflow_id}/members", "/api/workflows/{workflow_id}/members/{user_id}",
        "/api/node-types", "/healthz", "/readyz",
    ]:  # fmt: skip
        assert path in paths, path
    assert "<html" in httpx.get(f"{base_url}/schema").text.lower()
    assert httpx.get(f"{base_url}/schema/swagger").status_code == 200


def test_node_types_are_served(base_url: str, new_user: Callable[..., User]) -> None:
    specs = new_user().http.get("/api/node-types").json()
    by_type = {s["type"]: s for s in specs}
    assert list(by_type) == ["text", "upload_image", "upload_video", "llm", "crop_image", "extract_frame"]
    llm_inputs = {p["name"]: p for p in by_type["llm"]["inputs"]}
    assert llm_inputs["images"]["multiple"] is True and llm_inputs["user_message"]["required"] is True


def test_every_answer_carries_a_request_id(base_url: str) -> None:
    for path in ("/healthz", "/api/auth/me", "/api/nope"):
        response = httpx.get(f"{base_url}{path}")
        assert len(response.headers["x-request-id"]) == 32
    kept = httpx.get(f"{base_url}/healthz", headers={"x-request-id": "trace-abc.123"})
    assert kept.headers["x-request-id"] == "trace-abc.123"
    replaced = httpx.get(f"{base_url}/healthz", headers={"x-request-id": "bad id\twith junk"})
    assert replaced.headers["x-request-id"] != "bad id\twith junk"


def test_web_process_writes_json_logs_with_the_request_id(settings: Settings) -> None:
    port = free_port()
    env = {
        **os.environ, "DATABASE_URL": settings.database_url, "REDIS_URL": settings.redis_url,
        "SECRET_KEY": settings.secret_key, "PORT": str(port), "GALAXY_REDIS_NAMESPACE": settings.redis_namespace,
    }  # fmt: skip
    process = subprocess.Popen(
        [sys.executable, "-m", "server.cli", "web"],
        env=env,
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", headers={"x-request-id": "log-probe-1"}).is_success:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline and process.poll() is None, "galaxy web did not start"
            time.sleep(0.1)
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    access = [entry for entry in lines if entry.get("request_id") == "log-probe-1"]
    assert access and access[0]["path"] == "/healthz" and access[0]["status"] == 200 and access[0]["level"] == "info"
    assert process.returncode in (0, -signal.SIGTERM)  # uvicorn re-raises the signal after a clean shutdown


class _Envelopes(http.server.BaseHTTPRequestHandler):
    received: list[bytes] = []

    def do_POST(self) -> None:
        self.received.append(self.rfile.read(int(self.headers["content-length"])))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_sentry_reports_when_a_dsn_is_set_and_is_silent_otherwise() -> None:
    server = http.server.HTTPServer(("127.0.0.1", 0), _Envelopes)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    script = (
        "import sentry_sdk\n"
        "from server.settings import load_settings\n"
        "from server.observability import init_sentry\n"
        "import sys\n"
        "s = load_settings({}, database_url='postgresql://x@127.0.0.1/x', redis_url='redis://127.0.0.1', "
        "secret_key='k'*32, sentry_dsn=sys.argv[1])\n"
        "init_sentry(s)\n"
        "print(sentry_sdk.get_client().is_active())\n"
        "sentry_sdk.capture_message('galaxy-sentry-probe')\n"
        "sentry_sdk.flush(5)\n"
    )
    try:
        for dsn, active in ((f"http://public@127.0.0.1:{server.server_port}/1", "True"), ("", "False")):
            result = subprocess.run(
                [sys.executable, "-c", script, dsn], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60
            )
            assert result.stdout.strip() == active, result.stderr
    finally:
        server.shutdown()
        server.server_close()
    assert len(_Envelopes.received) == 1
    envelope = _Envelopes.received[0]
    assert b"galaxy-sentry-probe" in (gzip.decompress(envelope) if envelope[:2] == b"\x1f\x8b" else envelope)
