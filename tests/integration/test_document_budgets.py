"""Large documents are decoded off the event loop, and listing versions decodes nothing."""

from __future__ import annotations

import asyncio
import re
import statistics
import time

import httpx
from pycrdt import Doc, Map

from server.settings import Settings
from tests.support import METRICS_HEADERS, Clients, User, run_server, sql

ENTRIES = 320_000
VERSIONS = 12
CLIENTS = 4
LOAD_SECONDS = 8.0


def many_small_entries() -> bytes:
    """A document of a few MB: a name, and 320,000 small entries a member wrote into `meta`."""
    doc: Doc[object] = Doc()
    meta = doc.get("meta", type=Map)
    with doc.transaction():
        meta["name"] = "Heavy"
        for i in range(ENTRIES):
            meta[format(i, "x")] = i % 7
    return doc.get_update()


async def _probe(base_url: str, stop: asyncio.Event) -> list[float]:
    timings = []
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        while not stop.is_set():
            started = time.perf_counter()
            response = await client.get("/healthz")
            timings.append(time.perf_counter() - started)
            assert response.status_code == 200
            await asyncio.sleep(0.01)
    return timings


async def _reader(user: User, workflow_id: str, stop: asyncio.Event) -> int:
    done = 0
    cookies, headers = dict(user.http.cookies), dict(user.http.headers)
    async with httpx.AsyncClient(base_url=user.base_url, timeout=120, cookies=cookies, headers=headers) as client:
        while not stop.is_set():
            listed = await client.get(f"/api/workflows/{workflow_id}/versions", params={"limit": 100})
            assert listed.status_code == 200 and len(listed.json()["items"]) == VERSIONS
            read = await client.get(f"/api/workflows/{workflow_id}")
            assert read.status_code == 200 and read.json()["name"] == "Heavy"
            done += 1
    return done


async def _load(user: User, workflow_id: str) -> tuple[list[float], list[int]]:
    stop = asyncio.Event()
    probe = asyncio.create_task(_probe(user.base_url, stop))
    readers = [asyncio.create_task(_reader(user, workflow_id, stop)) for _ in range(CLIENTS)]
    await asyncio.sleep(LOAD_SECONDS)
    stop.set()
    return await probe, list(await asyncio.gather(*readers))


def test_health_stays_fast_while_members_read_a_heavy_document(settings: Settings, clients: Clients) -> None:
    state = many_small_entries()
    with run_server(settings) as url:
        user = clients.user(url, "heavy")
        workflow_id = user.create_workflow(name="Heavy")["id"]
        sql(settings.database_url, "UPDATE workflows SET snapshot = $1 WHERE id = $2::uuid", state, workflow_id)
        first = user.http.post(f"/api/workflows/{workflow_id}/versions", json={"name": "v1"}, timeout=120)
        assert first.status_code == 201, first.text
        assert first.json()["nodes"] == 0 and first.json()["edges"] == 0
        sql(
            settings.database_url,
            "INSERT INTO workflow_versions (id, workflow, name, automatic, snapshot, author, created_at) "
            "SELECT gen_random_uuid(), workflow, name || '-' || n, automatic, snapshot, author, created_at "
            "FROM workflow_versions, generate_series(2, $2) AS n WHERE workflow = $1::uuid",
            workflow_id,
            VERSIONS,
        )
        assert user.http.get(f"/api/workflows/{workflow_id}", timeout=120).json()["name"] == "Heavy"  # warm up

        timings, rounds = asyncio.run(_load(user, workflow_id))

        metrics = httpx.get(f"{url}/metrics", headers=METRICS_HEADERS).text
    # How fast /healthz answers meanwhile is measured by bench/ (tests assert no timings); here:
    # it kept answering, and every read of the heavy document was decoded in a worker process.
    summary = f"{len(timings)} /healthz samples, p50 {statistics.median(timings) * 1000:.1f} ms"
    assert sum(rounds) >= CLIENTS, (rounds, summary)  # the document really was read meanwhile
    assert len(timings) >= 100, summary
    offloaded = re.search(r'^galaxy_document_work_total\{where="process"\} ([0-9.e+]+)$', metrics, re.MULTILINE)
    assert offloaded is not None and float(offloaded.group(1)) >= sum(rounds), (metrics, rounds)
    assert "galaxy_event_loop_lag_seconds_bucket" in metrics
