"""Engine benchmarks against real Postgres, Redis, a `galaxy web` process and an in-process worker.

1. Scheduling overhead: 1,000 no-op nodes in three shapes (wide, deep, random) on one worker;
   the run's own duration (first claim to last node recorded) divided by the node count.
2. Fan-out: 100 nodes that each sleep 1 s, fed by one Text node, with 200 worker slots.
3. Event latency: for every `node_finished` event of a 1,000-node run, the time from the
   worker's publish call to a WebSocket client of the workflow receiving the frame.

    python -m bench.engine_bench        (Postgres and Redis on 127.0.0.1, like the tests)
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import random
import secrets
import statistics
import subprocess
import sys
import threading
import time
from datetime import datetime
from typing import Any

import redis
import websockets
from redis import asyncio as aioredis

from engine.events import RunEvent
from server.keys import RedisKeys
from server.runs import bus
from server.settings import PROJECT_ROOT, Settings, load_settings
from tests.integration.runs_support import in_process_worker
from tests.support import Clients, User, admin_sql, run_server

ADMIN_URL = os.environ.get("BENCH_POSTGRES_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
NODES = 1000

published: dict[tuple[str, int], float] = {}
_lock = threading.Lock()
_original_publish = bus.RedisEventSink.publish


async def _timed_publish(self: bus.RedisEventSink, workflow_id: str, event: RunEvent) -> int:
    sent = time.time()
    seq = await _original_publish(self, workflow_id, event)
    with _lock:
        published[(event.run_id, seq)] = sent
    return seq


_original_publish_all = bus.RedisEventSink.publish_all


async def _timed_publish_all(self: bus.RedisEventSink, workflow_id: str, events: list[RunEvent]) -> list[int]:
    sent = time.time()
    seqs = await _original_publish_all(self, workflow_id, events)
    with _lock:
        for event, seq in zip(events, seqs, strict=True):
            published[(event.run_id, seq)] = sent
    return seqs


bus.RedisEventSink.publish = _timed_publish  # type: ignore[method-assign]
bus.RedisEventSink.publish_all = _timed_publish_all  # type: ignore[method-assign]


def _node(node_id: str, node_type: str, **data: Any) -> dict[str, Any]:
    return {"id": node_id, "type": node_type, "position": {"x": 0, "y": 0}, "data": data}


def _edge(source: str, target: str, source_handle: str = "out", target_handle: str = "parts") -> dict[str, Any]:
    return {"id": f"{source}.{target}", "source": source, "sourceHandle": source_handle, "target": target,
            "targetHandle": target_handle}  # fmt: skip


def wide() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    middle = [f"m{i:04d}" for i in range(NODES - 2)]
    nodes = [_node("root", "noop"), *(_node(m, "noop") for m in middle), _node("join", "noop")]
    return nodes, [_edge("root", m) for m in middle] + [_edge(m, "join") for m in middle]


def deep() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    ids = [f"n{i:04d}" for i in range(NODES)]
    return [_node(i, "noop") for i in ids], [_edge(a, b) for a, b in itertools.pairwise(ids)]


def scattered() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rng = random.Random(7)
    ids = [f"r{i:04d}" for i in range(NODES)]
    edges = []
    for index in range(1, NODES):
        for parent in rng.sample(range(max(0, index - 30), index), k=min(index, rng.randint(1, 3))):
            edges.append(_edge(ids[parent], ids[index]))
    return [_node(i, "noop") for i in ids], edges


def fan_out() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    sleepers = [f"s{i:03d}" for i in range(100)]
    nodes = [_node("t", "text", text="go"), *(_node(s, "sleep", seconds=1) for s in sleepers)]
    return nodes, [_edge("t", s, "text", "a") for s in sleepers]


class Watcher:
    """A WebSocket client of one workflow that timestamps every text frame."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.frames: list[tuple[float, dict[str, Any]]] = []
        self.finished: dict[str, asyncio.Event] = {}

    async def run(self, ready: asyncio.Event) -> None:
        async with websockets.connect(self.url, max_size=None) as socket:
            ready.set()
            async for frame in socket:
                if isinstance(frame, str):
                    event = json.loads(frame)
                    self.frames.append((time.time(), event))
                    if event.get("type") == "run_finished":
                        self.finished.setdefault(event["run_id"], asyncio.Event()).set()

    async def wait_finished(self, run_id: str) -> None:
        async with asyncio.timeout(300):
            await self.finished.setdefault(run_id, asyncio.Event()).wait()


def _import(user: User, name: str, shape: tuple[list[dict[str, Any]], list[dict[str, Any]]]) -> str:
    nodes, edges = shape
    body = {"format": "galaxy.workflow", "version": 1, "name": name, "nodes": nodes, "edges": edges}
    response = user.http.post("/api/workflows/import", json=body)
    assert response.status_code == 201, response.text[:500]
    workflow_id: str = response.json()["id"]
    return workflow_id


async def _wait_in_redis(settings: Settings, workflow_id: str, started: asyncio.Event) -> str:
    """The id of the first run of the workflow to finish, read straight from the run channel."""
    client = aioredis.Redis.from_url(settings.redis_url)
    try:
        async with client.pubsub(ignore_subscribe_messages=True) as pubsub:
            await pubsub.subscribe(RedisKeys(settings.redis_namespace).runs_channel(workflow_id))
            started.set()
            async for message in pubsub.listen():
                event = json.loads(message["data"])
                if event["type"] == "run_finished":
                    run_id: str = event["run_id"]
                    return run_id
    finally:
        await client.aclose()
    raise AssertionError("channel closed")


async def measure(
    settings: Settings, base_url: str, user: User, token: str, name: str, shape: Any, *, watch: bool
) -> dict[str, Any]:
    """Run a workflow of `shape` once; with `watch`, a WebSocket client follows its events."""
    workflow_id = await asyncio.to_thread(_import, user, name, shape)
    watcher = Watcher(base_url.replace("http://", "ws://") + f"/ws/workflows/{workflow_id}?token={token}")
    ready = asyncio.Event()
    if watch:
        reader = asyncio.create_task(watcher.run(ready))
        await ready.wait()
        await asyncio.sleep(0.2)  # let the web process subscribe the room to the run channel
    else:
        finished = asyncio.create_task(_wait_in_redis(settings, workflow_id, ready))
        await ready.wait()
    response = await asyncio.to_thread(user.http.post, f"/api/workflows/{workflow_id}/runs", json={})
    assert response.status_code == 202, response.text[:500]
    run_id = response.json()["id"]
    if watch:
        await watcher.wait_finished(run_id)
        reader.cancel()
    else:
        async with asyncio.timeout(300):
            assert await finished == run_id
    run = (await asyncio.to_thread(user.http.get, f"/api/runs/{run_id}")).json()
    started, finished = datetime.fromisoformat(run["started_at"]), datetime.fromisoformat(run["finished_at"])
    duration = (finished - started).total_seconds()
    latencies = [
        (received - published[(run_id, event["seq"])]) * 1000
        for received, event in watcher.frames
        if event.get("run_id") == run_id and event["type"] == "node_finished" and (run_id, event["seq"]) in published
    ]
    seqs = [event["seq"] for _, event in watcher.frames if event.get("run_id") == run_id]
    return {
        "shape": name,
        "nodes": len(run["nodes"]),
        "status": run["status"],
        "run_seconds": round(duration, 3),
        "ms_per_node": round(duration * 1000 / len(run["nodes"]), 3),
        "watched_events": len(seqs),
        "gapless": seqs == list(range(1, len(seqs) + 1)) if watch else None,
        "latency_p50_ms": round(statistics.median(latencies), 2) if latencies else None,
        "latency_p99_ms": round(statistics.quantiles(latencies, n=100)[98], 2) if len(latencies) > 2 else None,
    }


def main() -> None:
    tag = secrets.token_hex(4)
    database = f"galaxy_bench_{tag}"
    admin_sql(ADMIN_URL, f'CREATE DATABASE "{database}"')
    database_url = ADMIN_URL.rsplit("/", 1)[0] + f"/{database}"
    settings: Settings = load_settings(
        {},
        database_url=database_url,
        redis_url=REDIS_URL,
        secret_key=secrets.token_hex(32),
        redis_namespace=f"bench-{tag}",
        extra_nodes="tests.integration.runs_nodes",
        max_nodes=2000,
        max_edges=10_000,
        max_import_bytes=16 * 1024 * 1024,
        max_request_bytes=16 * 1024 * 1024,
        worker_max_jobs=200,
        log_level="WARNING",
        log_json=False,
    )
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": REDIS_URL, "SECRET_KEY": settings.secret_key}
    subprocess.run([sys.executable, "-m", "server.cli", "migrate"], env=env, cwd=PROJECT_ROOT, check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip
    clients = Clients()
    results = []
    try:
        with run_server(settings) as base_url, in_process_worker(settings):
            user = clients.user(base_url, "bench")
            token = user.http.post("/api/tokens", json={"name": "bench"}).json()["token"]
            for name, shape, watch in (
                ("wide", wide(), False),
                ("deep", deep(), False),
                ("random", scattered(), False),
                ("fan-out 100 x 1 s", fan_out(), False),
                ("random, watched over WebSocket", scattered(), True),
            ):
                results.append(asyncio.run(measure(settings, base_url, user, token, name, shape, watch=watch)))
                print(json.dumps(results[-1]), flush=True)
    finally:
        clients.close()
        admin_sql(ADMIN_URL, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        client = redis.Redis.from_url(REDIS_URL)
        for key in client.scan_iter(match=f"bench-{tag}*", count=1000):
            client.delete(key)
        client.close()


if __name__ == "__main__":
    main()
