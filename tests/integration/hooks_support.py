"""Helpers for webhook tests: hooks made over the API, calls signed by the `standardwebhooks`
package, the delivery log, and a callback receiver on 127.0.0.1."""

from __future__ import annotations

import contextlib
import json
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
from standardwebhooks import Webhook

from tests.integration.runs_support import edge, import_workflow, node, text
from tests.support import User


def echo_workflow(owner: User) -> str:
    """topic (a required input) → sleep node labelled Result, which outputs "<topic>echo;"."""
    return import_workflow(
        owner,
        [text("topic_node", "", input_name="topic"), node("echo", "sleep", label="Result")],
        [edge("topic_node", "echo", source_handle="text")],
    )


def create_hook(user: User, workflow_id: str, name: str = "CRM", **body: Any) -> dict[str, Any]:
    response = user.http.post(f"/api/workflows/{workflow_id}/hooks", json={"name": name, **body})
    assert response.status_code == 201, response.text
    hook: dict[str, Any] = response.json()
    return hook


def signed_headers(secret: str, body: bytes, msg_id: str | None = None, at: datetime | None = None) -> dict[str, str]:
    """Standard Webhooks headers made by the reference package."""
    moment = at or datetime.now(UTC)
    message_id = msg_id or f"msg_{secrets.token_hex(8)}"
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(moment.timestamp())),
        "webhook-signature": Webhook(secret).sign(message_id, moment, body.decode()),
        "content-type": "application/json",
    }


def body_of(inputs: dict[str, Any] | None = None) -> bytes:
    return json.dumps({"inputs": inputs or {}}).encode()


def call(
    client: httpx.Client, hook: dict[str, Any], inputs: dict[str, Any] | None = None, *, wait: int = 0, **kw: Any
) -> httpx.Response:
    """POST a signed call to the hook's URL (path only, on the client's server)."""
    body = body_of(inputs)
    headers = signed_headers(hook["secret"], body, **kw)
    return client.post(path_of(hook), content=body, headers=headers, params={"wait": wait} if wait else None)


def path_of(hook: dict[str, Any]) -> str:
    return "/hooks/" + str(hook["url"]).rsplit("/hooks/", 1)[1]


def deliveries(user: User, hook_id: str, until: Callable[[list[dict[str, Any]]], bool], timeout: float = 10) -> list:
    """The hook's delivery log once `until` holds for it (rows are written a moment after the answer)."""
    deadline = time.monotonic() + timeout
    while True:
        response = user.http.get(f"/api/hooks/{hook_id}/deliveries", params={"limit": 100})
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        if until(items):
            return items
        if time.monotonic() > deadline:
            raise AssertionError(f"delivery log never matched: {items[:5]}")
        time.sleep(0.05)


class Receiver:
    """An HTTP server on 127.0.0.1 that records callbacks; `answers` are the status codes of the
    first requests (then 200)."""

    def __init__(self, answers: list[int] | None = None) -> None:
        self.answers = list(answers or [])
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                with receiver.lock:
                    receiver.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                    status = receiver.answers.pop(0) if receiver.answers else 200
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/callback"

    def wait_for(self, count: int, timeout: float = 20) -> list[tuple[dict[str, str], bytes]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.received) >= count:
                    return list(self.received)
            time.sleep(0.02)
        raise AssertionError(f"{len(self.received)} callbacks received, expected {count}")


@contextlib.contextmanager
def receiver(answers: list[int] | None = None) -> Iterator[Receiver]:
    server = Receiver(answers)
    thread = threading.Thread(target=server.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.server.shutdown()
        server.server.server_close()
