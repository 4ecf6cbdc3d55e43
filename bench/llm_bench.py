"""LLM token streaming latency: from the provider sending a token to a WebSocket client of the
workflow receiving it.

A `galaxy web` process, an in-process worker, and the OpenAI-compatible test server
(`tests/fake_llm.py`, real HTTP and server-sent events) run on this machine; litellm streams
from the server, the LLM node coalesces deltas into `node_progress` events (one per 50 ms at
most), the worker publishes them to Redis, the web process relays them to the WebSocket. The
server and the WebSocket client live in this process, so both timestamps use one clock.

    python -m bench.llm_bench        (Postgres and Redis on 127.0.0.1, like the tests)
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
import sys
import time
from typing import Any

import redis
import websockets

from server.settings import PROJECT_ROOT, load_settings
from tests.fake_llm import FakeLLM, Stream, fake_llm
from tests.integration.runs_support import in_process_worker
from tests.support import Clients, User, admin_sql, run_server

ADMIN_URL = os.environ.get("BENCH_POSTGRES_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
MODEL = "openai/bench-model"


def _workflow(user: User) -> str:
    body = {
        "format": "galaxy.workflow",
        "version": 1,
        "name": "LLM latency",
        "nodes": [
            {"id": "ask", "type": "text", "position": {"x": 0, "y": 0}, "data": {"text": "Write."}},
            {"id": "llm", "type": "llm", "position": {"x": 0, "y": 0}, "data": {"model": MODEL}},
        ],
        "edges": [
            {"id": "e", "source": "ask", "sourceHandle": "text", "target": "llm", "targetHandle": "user_message"}
        ],
    }
    response = user.http.post("/api/workflows/import", json=body)
    assert response.status_code == 201, response.text[:500]
    workflow_id: str = response.json()["id"]
    return workflow_id


async def measure(fake: FakeLLM, base_url: str, user: User, tokens: int, gap: float) -> dict[str, Any]:
    workflow_id = _workflow(user)
    token = user.http.post("/api/tokens", json={"name": "bench"}).json()["token"]
    words = [f"w{i:05d} " for i in range(tokens)]
    fake.sent.clear()
    fake.default = Stream(tokens=words, delay=gap)
    received: dict[str, float] = {}
    events = 0
    url = base_url.replace("http://", "ws://") + f"/ws/workflows/{workflow_id}?token={token}"
    async with websockets.connect(url, max_size=None) as socket:
        response = await asyncio.to_thread(user.http.post, f"/api/workflows/{workflow_id}/runs", json={})
        assert response.status_code == 202, response.text
        async with asyncio.timeout(300):
            async for frame in socket:
                if not isinstance(frame, str):
                    continue
                event = json.loads(frame)
                if event.get("type") == "node_progress" and event.get("node_id") == "llm":
                    now = time.monotonic()
                    events += 1
                    for word in event["delta"].split():
                        received.setdefault(word + " ", now)
                if event.get("type") == "run_finished":
                    break
    sent = dict(fake.sent)
    latencies = sorted((received[w] - sent[w]) * 1000 for w in words if w in received and w in sent)
    return {
        "tokens": tokens,
        "gap_ms": gap * 1000,
        "received": len(latencies),
        "progress_events": events,
        "p50_ms": round(latencies[len(latencies) // 2], 1),
        "p99_ms": round(latencies[int(len(latencies) * 0.99)], 1),
        "max_ms": round(latencies[-1], 1),
    }


def main() -> None:
    tag = secrets.token_hex(4)
    database = f"galaxy_bench_{tag}"
    admin_sql(ADMIN_URL, f'CREATE DATABASE "{database}"')
    database_url = ADMIN_URL.rsplit("/", 1)[0] + f"/{database}"
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": REDIS_URL, "SECRET_KEY": "x" * 32}
    subprocess.run([sys.executable, "-m", "server.cli", "migrate"], env=env, cwd=PROJECT_ROOT, check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip
    clients = Clients()
    try:
        with fake_llm() as fake:
            settings = load_settings(
                {},
                database_url=database_url,
                redis_url=REDIS_URL,
                secret_key=secrets.token_hex(32),
                redis_namespace=f"bench-{tag}",
                models=(MODEL,),
                llm_base_url=fake.base_url,
                log_level="WARNING",
                log_json=False,
            )
            with run_server(settings) as base_url, in_process_worker(settings):
                user = clients.user(base_url, "bench")
                asyncio.run(measure(fake, base_url, user, 20, 0.01))  # warm up: litellm's import, connections
                for tokens, gap in ((1000, 0.005), (500, 0.02), (200, 0.1)):
                    print(json.dumps(asyncio.run(measure(fake, base_url, user, tokens, gap))), flush=True)
    finally:
        clients.close()
        admin_sql(ADMIN_URL, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        client = redis.Redis.from_url(REDIS_URL)
        for key in client.scan_iter(match=f"bench-{tag}*", count=1000):
            client.delete(key)
        client.close()


if __name__ == "__main__":
    main()
