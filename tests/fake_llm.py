"""A small OpenAI-compatible chat server for tests and benchmarks: real HTTP on 127.0.0.1 and
real server-sent-event streaming, so litellm is exercised exactly as with a provider.

It records every request body, answers with a script of behaviours (a stream of tokens, an
HTTP error, a hang), and by default echoes the user's text back word by word.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn

from server.embedded import free_port


@dataclass
class Stream:
    tokens: list[str] | None = None  # None: echo the user's text
    delay: float = 0.0
    usage: dict[str, int] = field(default_factory=lambda: {"prompt_tokens": 11, "completion_tokens": 7})
    finish_reason: str = "stop"


@dataclass
class Error:
    status: int
    message: str = "fake provider error"
    kind: str = "invalid_request_error"
    code: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Hang:
    seconds: float


Behaviour = Stream | Error | Hang


def user_text(body: dict[str, Any]) -> str:
    content = body["messages"][-1]["content"]
    if isinstance(content, str):
        return content
    return " ".join(part["text"] for part in content if part.get("type") == "text")


class FakeLLM:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.script: deque[Behaviour] = deque()
        self.default: Behaviour = Stream()
        self.sent: list[tuple[str, float]] = []  # (token, time.monotonic() when written)
        self.base_url = ""

    def then(self, *behaviours: Behaviour) -> FakeLLM:
        self.script.extend(behaviours)
        return self

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        if scope["path"].rstrip("/").endswith("/chat/completions"):
            request = json.loads(body)
            self.requests.append(request)
            behaviour = self.script.popleft() if self.script else self.default
            await self._answer(behaviour, request, send)
        else:
            await _json(send, 404, {"error": {"message": "not here", "type": "not_found"}})

    async def _answer(self, behaviour: Behaviour, request: dict[str, Any], send: Any) -> None:
        if isinstance(behaviour, Hang):
            await asyncio.sleep(behaviour.seconds)
            await _json(send, 504, {"error": {"message": "hung", "type": "timeout"}})
            return
        if isinstance(behaviour, Error):
            error = {"message": behaviour.message, "type": behaviour.kind, "code": behaviour.code}
            await _json(send, behaviour.status, {"error": error}, behaviour.headers)
            return
        tokens = behaviour.tokens
        if tokens is None:
            words = ("Echo: " + user_text(request)).split(" ")
            tokens = [w if i == 0 else " " + w for i, w in enumerate(words)]
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")],
            }
        )
        model = request.get("model", "fake")
        for token in tokens:
            if behaviour.delay:
                await asyncio.sleep(behaviour.delay)
            delta = {"role": "assistant", "content": token}
            await _event(send, _chunk(model, [{"index": 0, "delta": delta, "finish_reason": None}]))
            self.sent.append((token, time.monotonic()))
        await _event(send, _chunk(model, [{"index": 0, "delta": {}, "finish_reason": behaviour.finish_reason}]))
        usage = {**behaviour.usage, "total_tokens": sum(behaviour.usage.values())}
        await _event(send, {**_chunk(model, []), "usage": usage})
        await send({"type": "http.response.body", "body": b"data: [DONE]\n\n", "more_body": False})


def _chunk(model: str, choices: list[dict[str, Any]]) -> dict[str, Any]:
    return {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": int(time.time()), "model": model,
            "choices": choices}  # fmt: skip


async def _event(send: Any, payload: dict[str, Any]) -> None:
    await send({"type": "http.response.body", "body": f"data: {json.dumps(payload)}\n\n".encode(), "more_body": True})


async def _json(send: Any, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
    extra = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send(
        {"type": "http.response.start", "status": status, "headers": [(b"content-type", b"application/json"), *extra]}
    )
    await send({"type": "http.response.body", "body": json.dumps(payload).encode()})


@contextlib.contextmanager
def fake_llm() -> Iterator[FakeLLM]:
    """Serve a `FakeLLM` on a free port of 127.0.0.1 in a background thread."""
    fake = FakeLLM()
    port = free_port()
    config = uvicorn.Config(fake, host="127.0.0.1", port=port, log_config=None, lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("fake LLM server did not start")
        time.sleep(0.01)
    fake.base_url = f"http://127.0.0.1:{port}/v1"
    try:
        yield fake
    finally:
        server.should_exit = True
        thread.join(timeout=10)
