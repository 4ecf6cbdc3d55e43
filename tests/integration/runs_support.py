"""Helpers for run tests: a server and workers that know the test node types, workflows built
from node/edge lists, run polling, and Redis event capture."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import redis

from server.settings import PROJECT_ROOT, Settings, to_environment
from server.worker import build_worker, startup
from tests.integration.runs_nodes import LOG_VARIABLE
from tests.support import User

FINAL = {"success", "failed", "partial", "cancelled"}
EXTRA_NODES = "tests.integration.runs_nodes"


def runs_settings(settings: Settings, **overrides: Any) -> Settings:
    """The test settings plus the test node types and fast, short-leased workers."""
    options: dict[str, Any] = {
        "extra_nodes": EXTRA_NODES,
        "run_lease_seconds": 2,
        "worker_poll_delay_ms": 10,
        "max_active_runs": 1000,
        "run_start_limit": 100_000,
    }
    options.update(overrides)
    return msgspec.structs.replace(settings, **options)


@contextlib.contextmanager
def in_process_worker(settings: Settings, **overrides: Any) -> Iterator[None]:
    """An arq worker (with its run scheduler) on its own event loop in a background thread."""
    started = threading.Event()
    loop_box: dict[str, Any] = {}
    failure: list[BaseException] = []

    def target() -> None:
        async def main() -> None:
            ready = asyncio.Event()

            async def on_startup(ctx: dict[str, Any]) -> None:
                await startup(ctx)
                ready.set()

            worker = build_worker(settings, on_startup=on_startup, **overrides)
            stop = asyncio.Event()
            loop_box["stop"] = stop
            loop_box["loop"] = asyncio.get_running_loop()
            running = asyncio.create_task(worker.async_run())
            waiting = asyncio.create_task(ready.wait())
            await asyncio.wait({running, waiting}, return_when=asyncio.FIRST_COMPLETED)
            waiting.cancel()
            if running.done():
                running.result()
            started.set()
            await stop.wait()
            # Let running jobs end first: one cancelled inside a Redis pipeline can leave the
            # pipeline holding its connection, which warns when it is collected (in a later test).
            worker.allow_pick_jobs = False
            jobs = [task for task in worker.tasks.values() if not task.done()]
            if jobs:
                await asyncio.wait(jobs, timeout=5)
            with warnings.catch_warnings():
                # arq closes its Redis pool with the deprecated `close()`.
                warnings.simplefilter("ignore", DeprecationWarning)
                await worker.close()
            with contextlib.suppress(asyncio.CancelledError):
                await running

        try:
            asyncio.run(main())
        except BaseException as err:  # reported to the test below
            failure.append(err)
            started.set()

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    assert started.wait(20), "worker did not start"
    if failure:
        raise failure[0]
    try:
        yield
    finally:
        loop_box["loop"].call_soon_threadsafe(loop_box["stop"].set)
        thread.join(30)
        assert not thread.is_alive(), "worker did not stop"
        if failure:
            raise failure[0]


def worker_environment(settings: Settings, node_log: Path) -> dict[str, str]:
    return {**os.environ, **to_environment(settings), "LOG_LEVEL": "WARNING", LOG_VARIABLE: str(node_log)}


@contextlib.contextmanager
def worker_processes(
    settings: Settings, node_log: Path, count: int, log_dir: Path
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """`count` real `galaxy worker` processes, stopped (or killed) afterwards."""
    env = worker_environment(settings, node_log)
    processes = []
    for index in range(count):
        output = (log_dir / f"worker-{index}.log").open("wb")
        processes.append(
            subprocess.Popen(
                [sys.executable, "-m", "server.cli", "worker"], env=env, cwd=PROJECT_ROOT, stdout=output, stderr=output
            )
        )
        output.close()
    try:
        yield processes
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def text(node_id: str, value: str = "", **data: Any) -> dict[str, Any]:
    return node(node_id, "text", text=value, **data)


def node(node_id: str, node_type: str, **data: Any) -> dict[str, Any]:
    return {"id": node_id, "type": node_type, "position": {"x": 0, "y": 0}, "data": data}


def edge(source: str, target: str, target_handle: str = "a", source_handle: str = "out") -> dict[str, Any]:
    return {
        "id": f"{source}-{target}-{target_handle}",
        "source": source,
        "sourceHandle": source_handle,
        "target": target,
        "targetHandle": target_handle,
    }


def import_workflow(user: User, nodes: list[dict[str, Any]], edges: list[dict[str, Any]]) -> str:
    body = {"format": "galaxy.workflow", "version": 1, "name": "Run test", "nodes": nodes, "edges": edges}
    response = user.http.post("/api/workflows/import", json=body)
    assert response.status_code == 201, response.text
    workflow_id: str = response.json()["id"]
    return workflow_id


def start_run(client: Any, workflow_id: str, **body: Any) -> dict[str, Any]:
    response = client.post(f"/api/workflows/{workflow_id}/runs", json=body)
    assert response.status_code == 202, response.text
    run: dict[str, Any] = response.json()
    return run


def wait_for_run(client: Any, run_id: str, timeout: float = 30) -> dict[str, Any]:
    """Poll the run until it is final; return its detail."""
    deadline = time.monotonic() + timeout
    while True:
        run: dict[str, Any] = client.get(f"/api/runs/{run_id}").json()
        if run["status"] in FINAL:
            return run
        if time.monotonic() > deadline:
            raise AssertionError(f"run {run_id} still {run['status']}: {run['nodes']}")
        time.sleep(0.05)


def wait_for_node(client: Any, run_id: str, node_id: str, status: str, timeout: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        run: dict[str, Any] = client.get(f"/api/runs/{run_id}").json()
        nodes = {n["node_id"]: n for n in run["nodes"]}
        if nodes[node_id]["status"] == status:
            return run
        if time.monotonic() > deadline:
            raise AssertionError(f"node {node_id} of run {run_id} is {nodes[node_id]['status']}, not {status}")
        time.sleep(0.05)


def nodes_of(run: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n["node_id"]: n for n in run["nodes"]}


class EventCapture:
    """Subscribes to a workflow's run channel in Redis and collects the events."""

    def __init__(self, settings: Settings, workflow_id: str) -> None:
        from server.keys import RedisKeys

        self.client = redis.Redis.from_url(settings.redis_url)
        self.pubsub = self.client.pubsub(ignore_subscribe_messages=True)
        self.pubsub.subscribe(RedisKeys(settings.redis_namespace).runs_channel(workflow_id))
        self.events: list[dict[str, Any]] = []

    def until(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 30) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = self.pubsub.get_message(timeout=0.2)
            if message and message["type"] == "message":
                event = msgspec.json.decode(message["data"])
                self.events.append(event)
                if predicate(event):
                    return self.events
        raise AssertionError(f"no matching event within {timeout} s; got {self.events[-5:]}")

    def close(self) -> None:
        self.pubsub.close()
        self.client.close()


def executions(node_log: Path, run_id: str) -> dict[str, dict[str, int]]:
    """For each node of the run: how many executions started and ended (from the node log)."""
    counts: dict[str, dict[str, int]] = {}
    for line in node_log.read_text().splitlines():
        event, line_run, node_id, _, _ = line.split()
        if line_run == run_id:
            counts.setdefault(node_id, {"start": 0, "end": 0})[event] += 1
    return counts


def executing_processes(node_log: Path, run_id: str) -> dict[str, set[str]]:
    """For each node of the run: the process ids that finished executing it."""
    pids: dict[str, set[str]] = {}
    for line in node_log.read_text().splitlines():
        event, line_run, node_id, _, pid = line.split()
        if line_run == run_id and event == "end":
            pids.setdefault(node_id, set()).add(pid)
    return pids
