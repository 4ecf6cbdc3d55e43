"""Two web processes on one Postgres and one Redis: fan-out, a process killed mid-burst, and a
Redis restart under live editing."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import msgspec
import pytest
from pycrdt import Map

from server.embedded import EmbeddedRedis
from server.settings import Settings
from tests.collab_client import YClient, eventually
from tests.support import ServerProcess, User, server_process, sql

pytestmark = pytest.mark.anyio


def ws_url(server: ServerProcess, workflow_id: str, token: str) -> str:
    return f"{server.url.replace('http://', 'ws://')}/ws/workflows/{workflow_id}?token={token}"


def stamp(client: YClient, key: str) -> None:
    with client.doc.transaction():
        client.nodes[key] = Map({"type": "text", "position": {"x": 0, "y": 0}, "data": Map({"label": key})})


async def stored_nodes(settings: Settings, workflow_id: str) -> set[str]:
    return await asyncio.to_thread(_stored_nodes, settings, workflow_id)


def _stored_nodes(settings: Settings, workflow_id: str) -> set[str]:
    from server.workflows import document

    rows = sql(settings.database_url, "SELECT snapshot, snapshot_seq FROM workflows WHERE id = $1::uuid", workflow_id)
    log = sql(
        settings.database_url, "SELECT data FROM document_updates WHERE workflow = $1::uuid AND id > $2 ORDER BY id",
        workflow_id, rows[0]["snapshot_seq"],
    )  # fmt: skip
    doc = document.decode_state(rows[0]["snapshot"], [r["data"] for r in log])
    return set(document.document_graph(doc).nodes)


async def _stored_is(settings: Settings, workflow_id: str, expected: set[str]) -> bool:
    return await stored_nodes(settings, workflow_id) == expected


@pytest.fixture
def shared(settings: Settings, new_user: Callable[..., User]) -> Iterator[tuple[Settings, str, str]]:
    user = new_user("pair")
    workflow_id = user.create_workflow()["id"]
    token = user.http.post("/api/tokens", json={"name": "ws"}).json()["token"]
    # Both processes share the test run's Postgres, Redis and namespace; rooms unload quickly.
    yield msgspec.structs.replace(settings, collab_unload_after=1), workflow_id, token


async def test_clients_on_two_processes_converge(shared: tuple[Settings, str, str]) -> None:
    settings, workflow_id, token = shared
    with server_process(settings) as a, server_process(settings) as b:
        on_a = [await (await YClient(ws_url(a, workflow_id, token)).connect()).wait_synced() for _ in range(2)]
        on_b = [await (await YClient(ws_url(b, workflow_id, token)).connect()).wait_synced() for _ in range(2)]
        for i, client in enumerate(on_a + on_b):
            for j in range(5):
                stamp(client, f"c{i}-{j}")
        expected = {f"c{i}-{j}" for i in range(4) for j in range(5)}
        for client in on_a + on_b:
            await eventually(lambda c=client: set(c.nodes.keys()) == expected)
        await eventually(lambda: _stored_is(settings, workflow_id, expected), timeout=5)
        # Each update was stored once, by the process whose client sent it.
        rows = await asyncio.to_thread(
            sql, settings.database_url, "SELECT count(*) AS n FROM document_updates WHERE workflow = $1::uuid",
            workflow_id,
        )  # fmt: skip
        assert rows[0]["n"] <= 20
        for client in on_a + on_b:
            await client.close()


async def test_killed_process_loses_nothing_acknowledged(shared: tuple[Settings, str, str]) -> None:
    settings, workflow_id, token = shared
    with server_process(settings) as a, server_process(settings) as b:
        writer = await (await YClient(ws_url(a, workflow_id, token)).connect()).wait_synced()
        watcher = await (await YClient(ws_url(b, workflow_id, token)).connect()).wait_synced()
        sent_at: dict[str, float] = {}
        for i in range(60):
            key = f"burst-{i:02d}"
            stamp(writer, key)
            sent_at[key] = time.monotonic()
            await asyncio.sleep(0.04)
        os.kill(a.process.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        a.process.wait()
        # Every edit sent more than a second before the kill is already in Postgres.
        acknowledged = {k for k, t in sent_at.items() if killed_at - t > 1.0}
        assert acknowledged and acknowledged <= await stored_nodes(settings, workflow_id)
        # The writer reconnects to the surviving process; everyone converges on every edit.
        writer = await writer.reconnect(ws_url(b, workflow_id, token))
        await eventually(lambda: set(watcher.nodes.keys()) == set(sent_at) == set(writer.nodes.keys()))
        await writer.close()
        await watcher.close()
        # Once the room closes, the surviving process has stored what the dead one had not.
        await eventually(lambda: _stored_is(settings, workflow_id, set(sent_at)), timeout=10)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    redis = EmbeddedRedis(tmp_path / "redis", persist=False)
    redis.start()
    yield redis
    redis.stop()


async def test_processes_recover_from_a_redis_restart(
    shared: tuple[Settings, str, str], own_redis: EmbeddedRedis, tmp_path: Path
) -> None:
    settings, workflow_id, token = shared
    settings = msgspec.structs.replace(settings, redis_url=own_redis.url)
    with server_process(settings) as a, server_process(settings) as b:
        on_a = await (await YClient(ws_url(a, workflow_id, token)).connect()).wait_synced()
        on_b = await (await YClient(ws_url(b, workflow_id, token)).connect()).wait_synced()
        stamp(on_a, "before")
        await eventually(lambda: "before" in on_b.nodes)
        own_redis.stop()
        stamp(on_a, "during-a")
        stamp(on_b, "during-b")
        await asyncio.sleep(1)
        restarted = EmbeddedRedis(tmp_path / "redis2", port=own_redis.port, persist=False)
        restarted.start()
        try:
            stamp(on_b, "after")
            expected = {"before", "during-a", "during-b", "after"}
            await eventually(lambda: set(on_a.nodes.keys()) == expected == set(on_b.nodes.keys()), timeout=15)
            await eventually(lambda: _stored_is(settings, workflow_id, expected), timeout=5)
            assert a.process.poll() is None and b.process.poll() is None
        finally:
            await on_a.close()
            await on_b.close()
            restarted.stop()


async def test_fifty_rooms_opened_at_once_on_two_fresh_processes_converge(
    settings: Settings, new_user: Callable[..., User]
) -> None:
    """Many rooms opened at the same moment on two processes that just started: every edit of a
    writer on one side reaches every client on the other, and nothing is lost."""
    user = new_user("fifty")
    token = user.http.post("/api/tokens", json={"name": "ws"}).json()["token"]
    workflows = [user.create_workflow(name=f"room {i}")["id"] for i in range(50)]
    settings = msgspec.structs.replace(settings, max_connections_per_user=1000)
    with server_process(settings) as a, server_process(settings) as b:

        async def join(server: ServerProcess, workflow_id: str) -> YClient:
            return await (await YClient(ws_url(server, workflow_id, token)).connect()).wait_synced(timeout=20)

        clients = await asyncio.gather(
            *(join(server, w) for w in workflows for server in (a, b, a, b)),
        )
        writers = clients[0::4]
        for round_ in range(5):
            for writer in writers:
                stamp(writer, f"edit-{round_}")
            await asyncio.sleep(0.1)
        expected = {f"edit-{r}" for r in range(5)}
        # Well inside the anti-entropy interval, so only live fan-out counts.
        with contextlib.suppress(AssertionError):
            await eventually(lambda: all(set(c.nodes.keys()) == expected for c in clients), timeout=1.5)
        lagging = [
            (workflows[i // 4], "ab"[i % 2], sorted(expected - set(c.nodes.keys())))
            for i, c in enumerate(clients)
            if set(c.nodes.keys()) != expected
        ]
        for client in clients:
            await client.close()
        assert lagging == []
        for workflow_id in workflows:
            await eventually(lambda w=workflow_id: _stored_is(settings, w, expected), timeout=5)


async def test_edits_a_peer_received_survive_a_kill_when_nobody_reconnects(
    shared: tuple[Settings, str, str],
) -> None:
    """Writer and peer on one process, which is killed before it stores anything; neither
    client ever comes back. Everything the peer saw is in the restarted service's document."""
    settings, workflow_id, token = shared
    # Nothing reaches Postgres through the process's own flush before the kill.
    settings = msgspec.structs.replace(
        settings, collab_flush_interval=60, collab_sweep_interval=0.5, collab_stale_after=2
    )
    with server_process(settings) as a:
        writer = await (await YClient(ws_url(a, workflow_id, token)).connect()).wait_synced()
        peer = await (await YClient(ws_url(a, workflow_id, token)).connect()).wait_synced()
        for i in range(100):
            stamp(writer, f"w-{i:03d}")
            await asyncio.sleep(0.005)
        os.kill(a.process.pid, signal.SIGKILL)
        a.process.wait()
    seen = {key for key in peer.nodes.keys() if key.startswith("w-")}
    assert len(seen) > 50  # the peer saw most of the burst before the kill
    with server_process(settings) as b:
        # A REST read anywhere includes them at once (the journal), ...
        async with httpx.AsyncClient(base_url=b.url, headers={"Authorization": f"Bearer {token}"}) as http:
            graph = (await http.get(f"/api/workflows/{workflow_id}")).json()["graph"]
        assert seen <= {node["id"] for node in graph["nodes"]}
        # ... and the sweep stores them in Postgres although no client reconnects.
        await eventually(lambda: _stored_superset(settings, workflow_id, seen), timeout=10)
    await writer.close()
    await peer.close()


async def test_edits_a_peer_saw_while_redis_was_down_survive_a_kill(
    shared: tuple[Settings, str, str], own_redis: EmbeddedRedis, tmp_path: Path
) -> None:
    """With Redis away the journal takes nothing, but the spool does: writer and peer on one
    process, Redis stops, edits go back and forth, the process is killed and nobody reconnects.
    The next process on the machine stores everything the peer saw from the dead one's spool."""
    settings, workflow_id, token = shared
    settings = msgspec.structs.replace(settings, redis_url=own_redis.url, collab_flush_interval=60)
    with server_process(settings) as a:
        writer = await (await YClient(ws_url(a, workflow_id, token)).connect()).wait_synced()
        peer = await (await YClient(ws_url(a, workflow_id, token)).connect()).wait_synced()
        own_redis.stop()
        for i in range(20):
            stamp(writer, f"offline-{i:02d}")
        expected = {f"offline-{i:02d}" for i in range(20)}
        await eventually(lambda: expected <= set(peer.nodes.keys()), timeout=10)
        os.kill(a.process.pid, signal.SIGKILL)
        a.process.wait()
    assert not expected & await stored_nodes(settings, workflow_id)
    restarted = EmbeddedRedis(tmp_path / "redis2", port=own_redis.port, persist=False)  # empty
    restarted.start()
    try:
        with server_process(settings):  # recovers the dead process's spool as it starts
            assert expected <= await stored_nodes(settings, workflow_id)
    finally:
        await writer.close()
        await peer.close()
        restarted.stop()


async def _stored_superset(settings: Settings, workflow_id: str, expected: set[str]) -> bool:
    return expected <= await stored_nodes(settings, workflow_id)


async def test_connection_caps_count_every_process(settings: Settings, new_user: Callable[..., User]) -> None:
    owner, guest = new_user("caps-owner"), new_user("caps-guest")
    workflow_id = owner.create_workflow()["id"]
    owner.share(workflow_id, guest, "editor")
    owner_token = owner.http.post("/api/tokens", json={"name": "ws"}).json()["token"]
    guest_token = guest.http.post("/api/tokens", json={"name": "ws"}).json()["token"]
    settings = msgspec.structs.replace(settings, max_connections_per_user=3, max_connections_per_document=4)
    with server_process(settings) as a, server_process(settings) as b:

        async def open_(server: ServerProcess, token: str) -> YClient:
            return await YClient(ws_url(server, workflow_id, token)).connect()

        mine = [await (await open_(server, owner_token)).wait_synced() for server in (a, b, a)]
        # The owner's fourth socket is refused on either process.
        for server in (a, b):
            extra = await open_(server, owner_token)
            assert await extra.wait_closed() == 1013
            assert extra.close_reason == "too many open connections for this user"
        # The workflow's fifth socket is refused, whoever opens it.
        guest_socket = await (await open_(b, guest_token)).wait_synced()
        fifth = await open_(a, guest_token)
        assert await fifth.wait_closed() == 1013
        assert fifth.close_reason == "too many people on this workflow right now"
        # A closed socket frees its slot at once, on the other process too.
        await mine[1].close()
        again = await (await open_(a, owner_token)).wait_synced()
        for client in [*mine, guest_socket, again]:
            await client.close()


async def test_an_edit_is_in_every_read_at_once_whichever_process_serves_it(
    shared: tuple[Settings, str, str],
) -> None:
    """Export, duplicate, rename and a run started right after an edit include it, even on the other process
    (the edit is in the journal before another process shows it; REST reads add the journal)."""
    settings, workflow_id, token = shared
    settings = msgspec.structs.replace(settings, collab_flush_interval=30)  # the log lags far behind
    with server_process(settings) as a, server_process(settings) as b:
        writer = await (await YClient(ws_url(a, workflow_id, token)).connect()).wait_synced()
        peer = await (await YClient(ws_url(b, workflow_id, token)).connect()).wait_synced()
        async with httpx.AsyncClient(base_url=b.url, headers={"Authorization": f"Bearer {token}"}) as http:
            for i in range(5):
                stamp(writer, f"quick-{i}")
                await eventually(lambda i=i: f"quick-{i}" in peer.nodes)  # seen on b: journaled
                exported = (await http.get(f"/api/workflows/{workflow_id}/export")).json()
                assert f"quick-{i}" in {n["id"] for n in exported["nodes"]}
            copy = (await http.post(f"/api/workflows/{workflow_id}/duplicate", json={})).json()
            assert {f"quick-{i}" for i in range(5)} <= {n["id"] for n in copy["graph"]["nodes"]}
            renamed = (await http.patch(f"/api/workflows/{workflow_id}", json={"name": "Renamed"})).json()
            assert {f"quick-{i}" for i in range(5)} <= {n["id"] for n in renamed["graph"]["nodes"]}
            stamp(writer, "just-now")
            await eventually(lambda: "just-now" in peer.nodes)
            started = await http.post(
                f"/api/workflows/{workflow_id}/runs", json={"scope": "single", "node_ids": ["just-now"]}
            )
            assert started.status_code == 202, started.text
            run = (await http.get(f"/api/runs/{started.json()['id']}")).json()
            assert [n["node_id"] for n in run["nodes"]] == ["just-now"]
        await writer.close()
        await peer.close()
