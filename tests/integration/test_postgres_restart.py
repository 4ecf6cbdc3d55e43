"""Postgres restarts while people edit and a run executes: web and worker carry on by themselves.

The test starts its own embedded Postgres (so it can stop it), one web process and one worker.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pycrdt import Map

from server.embedded import EmbeddedPostgres
from server.settings import PROJECT_ROOT, Settings, to_environment
from tests.collab_client import YClient, eventually
from tests.integration.runs_support import (
    FINAL,
    edge,
    node,
    runs_settings,
    text,
    worker_processes,
)
from tests.support import Clients, server_process, sql

pytestmark = pytest.mark.anyio


@pytest.fixture
def own_postgres() -> Iterator[EmbeddedPostgres]:
    # A short path: the server's Unix socket lives in it.
    pg = EmbeddedPostgres(Path("/tmp") / f"galaxy-pgr-{secrets.token_hex(3)}")
    pg.start()
    pg.create_database("galaxy")
    yield pg
    pg.stop()


def stamp(client: YClient, key: str) -> None:
    with client.doc.transaction():
        client.nodes[key] = Map({"type": "text", "position": {"x": 0, "y": 0}, "data": Map({"text": key})})


async def test_web_and_worker_ride_out_a_postgres_restart(
    settings: Settings, own_postgres: EmbeddedPostgres, node_log: Path, tmp_path: Path, clients: Clients
) -> None:
    settings = runs_settings(
        settings,
        database_url=own_postgres.url("galaxy"),
        redis_namespace=f"{settings.redis_namespace}-pgr",
        collab_sweep_interval=0.5,
        collab_stale_after=2,
    )
    env = {**os.environ, **to_environment(settings)}
    await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "server.cli", "migrate"], env=env, cwd=PROJECT_ROOT, check=True
    )
    with server_process(settings) as web, worker_processes(settings, node_log, 1, tmp_path):
        user = clients.user(web.url, "restart")
        token = user.http.post("/api/tokens", json={"name": "ws"}).json()["token"]
        chain = [node(f"s{i}", "sleep", seconds=1.0) for i in range(4)]
        body = {
            "format": "galaxy.workflow", "version": 1, "name": "Restart", "nodes": [text("t", "x"), *chain],
            "edges": [edge("t", "s0", source_handle="text")]
            + [edge(f"s{i}", f"s{i + 1}") for i in range(3)],
        }  # fmt: skip
        workflow_id = user.http.post("/api/workflows/import", json=body).json()["id"]
        ws = f"{web.url.replace('http', 'ws')}/ws/workflows/{workflow_id}?token={token}"
        writer = await (await YClient(ws).connect()).wait_synced()
        watcher = await (await YClient(ws).connect()).wait_synced()
        async with httpx.AsyncClient(base_url=web.url, headers={"Authorization": f"Bearer {token}"}) as http:
            run_id = (await http.post(f"/api/workflows/{workflow_id}/runs", json={})).json()["id"]

            async def node_running() -> bool:
                run = (await http.get(f"/api/runs/{run_id}")).json()
                return any(n["status"] == "running" for n in run["nodes"])

            await eventually(node_running, timeout=20)
            own_postgres.stop()

            async def not_ready() -> bool:
                response = await http.get("/readyz")
                return response.status_code == 503 and response.json()["checks"]["postgres"].startswith("error")

            await eventually(not_ready, timeout=10)
            for i in range(10):  # people keep editing while Postgres is away
                stamp(writer, f"during-{i}")
                await asyncio.sleep(0.2)
            await eventually(lambda: all(f"during-{i}" in watcher.nodes for i in range(10)))
            await asyncio.sleep(1)  # the running node finishes while its result cannot be recorded
            own_postgres.start()

            async def ready() -> bool:
                return (await http.get("/readyz")).status_code == 200

            await eventually(ready, timeout=30)
            stamp(writer, "after")

            async def finished() -> bool:
                return (await http.get(f"/api/runs/{run_id}")).json()["status"] in FINAL

            await eventually(finished, timeout=60)
            run = (await http.get(f"/api/runs/{run_id}")).json()
        assert run["status"] == "success", run
        assert all(n["status"] == "success" for n in run["nodes"]), run["nodes"]
        expected = {f"during-{i}" for i in range(10)} | {"after"}

        async def stored() -> bool:
            rows = await asyncio.to_thread(
                sql, settings.database_url, "SELECT snapshot, snapshot_seq FROM workflows WHERE id = $1::uuid",
                workflow_id,
            )  # fmt: skip
            log = await asyncio.to_thread(
                sql, settings.database_url,
                "SELECT data FROM document_updates WHERE workflow = $1::uuid AND id > $2 ORDER BY id",
                workflow_id, rows[0]["snapshot_seq"],
            )  # fmt: skip
            from server.workflows import document

            doc = document.decode_state(rows[0]["snapshot"], [r["data"] for r in log])
            return expected <= set(document.document_graph(doc).nodes)

        await eventually(stored, timeout=15)  # no batch of edits was lost
        await writer.close()
        await watcher.close()
        assert web.process.poll() is None
