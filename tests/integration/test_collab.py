"""Live collaboration over real sockets: sync, roles, presence, persistence, bad input, limits."""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import msgspec
import pytest
from pycrdt import Map, Text

from collab import protocol
from server.settings import Settings
from tests.collab_client import YClient, eventually
from tests.support import METRICS_HEADERS, User, run_server, sql

pytestmark = pytest.mark.anyio


@dataclass
class Team:
    base_url: str
    workflow_id: str
    owner: User
    editor: User
    viewer: User
    tokens: dict[str, str]

    def url(self, who: str = "owner", workflow_id: str | None = None) -> str:
        ws = self.base_url.replace("http://", "ws://")
        return f"{ws}/ws/workflows/{workflow_id or self.workflow_id}?token={self.tokens[who]}"

    async def client(self, who: str = "owner") -> YClient:
        return await (await YClient(self.url(who)).connect()).wait_synced()


def make_team(base_url: str, new_user: Callable[..., User]) -> Team:
    owner, editor, viewer = new_user("owner"), new_user("editor"), new_user("viewer")
    workflow_id = owner.create_workflow(template="marketing-kit")["id"]
    owner.share(workflow_id, editor, "editor")
    owner.share(workflow_id, viewer, "viewer")
    tokens = {}
    for name, user in (("owner", owner), ("editor", editor), ("viewer", viewer)):
        tokens[name] = user.http.post("/api/tokens", json={"name": "ws"}).json()["token"]
    return Team(base_url, workflow_id, owner, editor, viewer, tokens)


@pytest.fixture
def team(base_url: str, new_user: Callable[..., User]) -> Team:
    return make_team(base_url, new_user)


def add_node(client: YClient, node_id: str, text: str = "hi") -> None:
    with client.doc.transaction():
        client.nodes[node_id] = Map(
            {"type": "text", "position": {"x": 1, "y": 2}, "data": Map({"text": Text(text), "label": node_id})}
        )


async def test_two_clients_sync_and_edits_reach_postgres(team: Team, settings: Settings) -> None:
    alice, bob = await team.client("owner"), await team.client("editor")
    assert set(alice.nodes.keys()) == set(bob.nodes.keys()) >= {"crop", "social"}
    add_node(alice, "fresh", "hello")
    await eventually(lambda: "fresh" in bob.nodes)
    text = bob.nodes["fresh"]["data"]["text"]
    text.insert(len(text), " world")
    await eventually(lambda: str(alice.nodes["fresh"]["data"]["text"]) == "hello world")

    async def stored() -> bool:
        graph = team.owner.http.get(f"/api/workflows/{team.workflow_id}").json()
        texts = {n["id"]: n["data"].get("text") for n in graph["graph"]["nodes"]}
        return texts.get("fresh") == "hello world"

    await eventually(stored, timeout=5)  # REST reads the durable document

    async def logged_by_both() -> bool:
        authors = await asyncio.to_thread(
            sql, settings.database_url, "SELECT DISTINCT author FROM document_updates WHERE workflow = $1::uuid",
            team.workflow_id,
        )  # fmt: skip
        return {str(a["author"]) for a in authors} >= {team.owner.id, team.editor.id}

    await eventually(logged_by_both, timeout=5)  # the Postgres log, with each edit's author
    await alice.close()
    await bob.close()


async def test_edits_move_last_edited_at_most_every_few_seconds(team: Team, settings: Settings) -> None:
    """Each flush stores the edits; `updated_at` (the list's "last edited") moves with them, but
    only when it is older than TOUCH_EVERY: a busy workflow's row is not rewritten twice a second."""

    async def query(statement: str) -> list[dict[str, Any]]:
        return await asyncio.to_thread(sql, settings.database_url, statement, team.workflow_id)

    async def logged() -> int:
        return int((await query("SELECT count(*) AS n FROM document_updates WHERE workflow = $1::uuid"))[0]["n"])

    async def stamp() -> Any:
        return (await query("SELECT updated_at FROM workflows WHERE id = $1::uuid"))[0]["updated_at"]

    alice = await team.client("owner")
    await query("UPDATE workflows SET updated_at = now() - interval '1 hour' WHERE id = $1::uuid")
    hour_ago, before = await stamp(), await logged()
    add_node(alice, "first")
    await eventually(lambda: _more(logged, before), timeout=5)
    assert (await stamp() - hour_ago).total_seconds() > 3000  # an hour old: moved by the flush

    await query("UPDATE workflows SET updated_at = now() - interval '1 second' WHERE id = $1::uuid")  # < TOUCH_EVERY
    recent, before = await stamp(), await logged()
    add_node(alice, "second")
    await eventually(lambda: _more(logged, before), timeout=5)
    assert await stamp() == recent  # stored, and not moved: it was moved a second ago
    await alice.close()


async def _more(count: Callable[[], Awaitable[int]], floor: int) -> bool:
    return await count() > floor


async def test_viewer_receives_but_cannot_write(team: Team) -> None:
    owner, viewer = await team.client("owner"), await team.client("viewer")
    add_node(viewer, "sneaky")
    await eventually(lambda: viewer.denied)
    assert "read-only" in viewer.denied[0]
    add_node(owner, "legit")
    await eventually(lambda: "legit" in viewer.nodes)
    await asyncio.sleep(0.3)
    assert "sneaky" not in owner.nodes
    assert viewer.close_code is None  # the socket stays open
    await owner.close()
    await viewer.close()


async def test_role_changes_apply_to_open_sockets(team: Team) -> None:
    viewer = await team.client("viewer")
    editor = await team.client("editor")
    path = f"/api/workflows/{team.workflow_id}/members"
    team.owner.http.patch(f"{path}/{team.viewer.id}", json={"role": "editor"})
    add_node(viewer, "promoted")
    await eventually(lambda: "promoted" in editor.nodes, timeout=2)
    team.owner.http.patch(f"{path}/{team.editor.id}", json={"role": "viewer"})
    await asyncio.sleep(0.2)
    add_node(editor, "demoted")
    await eventually(lambda: editor.denied, timeout=2)
    team.owner.http.delete(f"{path}/{team.viewer.id}")
    assert await viewer.wait_closed(timeout=2) == 4403
    await editor.close()


async def test_refusals_close_with_4xxx(team: Team, base_url: str, new_user: Callable[..., User]) -> None:
    ws = base_url.replace("http://", "ws://")
    stranger = new_user("stranger")
    stranger_token = stranger.http.post("/api/tokens", json={"name": "ws"}).json()["token"]
    cases = {
        f"{ws}/ws/workflows/{team.workflow_id}": 4401,
        f"{ws}/ws/workflows/{team.workflow_id}?token=glx_forged": 4401,
        f"{ws}/ws/workflows/{team.workflow_id}?token={stranger_token}": 4404,
        f"{ws}/ws/workflows/not-a-uuid?token={stranger_token}": 4404,
    }
    for url, code in cases.items():
        client = await YClient(url).connect()
        assert await client.wait_closed() == code, url
    # A session cookie from another site's page is refused (cross-site WebSocket hijacking).
    cookie = team.owner.http.cookies["galaxy_session"]
    hijack = await YClient(
        f"{ws}/ws/workflows/{team.workflow_id}", additional_headers={"cookie": f"galaxy_session={cookie}"},
        origin="https://evil.example",
    ).connect()  # fmt: skip
    assert await hijack.wait_closed() == 4403
    same_site = await YClient(
        f"{ws}/ws/workflows/{team.workflow_id}", additional_headers={"cookie": f"galaxy_session={cookie}"},
        origin=base_url,
    ).connect()  # fmt: skip
    await same_site.wait_synced()
    await same_site.close()


async def test_presence_is_stamped_by_the_server_and_removed_on_leave(team: Team) -> None:
    alice, bob = await team.client("owner"), await team.client("editor")
    await alice.set_presence(111, 1, {"user": {"name": "Mallory", "id": "someone-else"}, "cursor": {"x": 5, "y": 6}})
    await eventually(lambda: 111 in bob.awareness)
    state = bob.awareness[111]
    assert state["user"]["id"] == team.owner.id and state["user"]["name"] == "owner"
    assert state["cursor"] == {"x": 5, "y": 6} and state["user"]["color"].startswith("#")
    # bob may not speak for alice's client id
    await bob.set_presence(111, 5, {"cursor": {"x": 0, "y": 0}})
    await asyncio.sleep(0.2)
    assert alice.awareness.get(111, {}).get("cursor", {"x": 5}) == {"x": 5, "y": 6}
    late = await team.client("viewer")
    await eventually(lambda: 111 in late.awareness)  # a newcomer learns who is here
    await alice.close()
    await eventually(lambda: 111 not in bob.awareness and 111 not in late.awareness)
    await bob.close()
    await late.close()


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (os.urandom(64), 1007),
        (b"\x00\x02\xff\xff\xff\xff\x0f", 1007),  # absurd length
        (b"\x00\x02", 1007),  # truncated
        (b"\x00\x02\x05\x01\x02\x03\x04\x05", 1007),  # not a Yjs update
        (b"\x09", 1007),  # unknown message type
        (b"\x00\x07\x00", 1007),  # unknown sync type
        (b"\x01\x05" + b"\x01\x01\x01\x01{", 1007),  # bad awareness JSON
        ("a text frame", 1003),
        (b"\x00\x02" + protocol.var_uint(2 * 1024 * 1024) + b"\x00" * (2 * 1024 * 1024), 1009),
    ],
)
async def test_bad_frames_close_only_the_offender(team: Team, frame: bytes | str, code: int) -> None:
    good, bad = await team.client("owner"), await team.client("editor")
    before = good.snapshot()
    await bad.send_raw(frame)
    assert await bad.wait_closed() == code
    add_node(good, "still-alive")
    other = await team.client("editor")
    await eventually(lambda: "still-alive" in other.nodes)
    assert {k: v for k, v in other.snapshot()["nodes"].items() if k != "still-alive"} == before["nodes"]
    await good.close()
    await other.close()


async def test_collaboration_metrics(team: Team) -> None:
    client = await team.client("owner")
    add_node(client, "counted")
    await asyncio.sleep(0.2)
    text = team.owner.http.get("/metrics", headers=METRICS_HEADERS).text
    values = {line.split(" ")[0]: float(line.split(" ")[1]) for line in text.splitlines() if line.startswith("galaxy_")}
    assert values["galaxy_ws_connections"] >= 1 and values["galaxy_collab_rooms"] >= 1
    assert values["galaxy_collab_updates_total"] >= 1
    assert "galaxy_ws_slow_clients_dropped_total" in values and "galaxy_collab_fanout_seconds_count" in values
    await client.close()


async def test_run_events_are_relayed_as_text_frames(team: Team, settings: Settings) -> None:
    from redis.asyncio import Redis

    from server.keys import RedisKeys

    client = await team.client("viewer")
    redis = Redis.from_url(settings.redis_url)
    channel = RedisKeys(settings.redis_namespace).runs_channel(team.workflow_id)
    await redis.publish(channel, b'{"type": "run_started", "run_id": "r1", "seq": 1}')
    await eventually(lambda: client.events)
    assert client.events[0] == {"type": "run_started", "run_id": "r1", "seq": 1}
    await redis.aclose()
    await client.close()


async def test_node_limit_refuses_the_update_and_says_why(settings: Settings, new_user: Callable[..., User]) -> None:
    with run_server(msgspec.structs.replace(settings, max_nodes=9)) as url:
        team = make_team(url, new_user)  # the template has 7 nodes
        alice, bob = await team.client("owner"), await team.client("editor")
        with alice.doc.transaction():
            for i in range(3):
                add_node(alice, f"extra{i}")
        await eventually(lambda: alice.denied)
        assert "node limit" in alice.denied[0]
        await eventually(lambda: len(alice.nodes) == 7 and len(bob.nodes) == 7)
        add_node(bob, "fits")
        await eventually(lambda: "fits" in alice.nodes)
        await alice.close()
        await bob.close()


async def test_named_version_and_restore_reach_live_clients(team: Team) -> None:
    alice, bob = await team.client("owner"), await team.client("editor")
    versions = f"/api/workflows/{team.workflow_id}/versions"
    saved = team.owner.http.post(versions, json={"name": "before the experiment"})
    assert saved.status_code == 201 and saved.json()["nodes"] == 7
    add_node(alice, "experiment")
    del alice.nodes["details"]
    await eventually(lambda: "experiment" in bob.nodes and "details" not in bob.nodes)
    restored = team.editor.http.post(f"{versions}/{saved.json()['id']}/restore")
    assert restored.status_code == 200, restored.text
    await eventually(lambda: "experiment" not in bob.nodes and "details" in alice.nodes)
    listed = team.viewer.http.get(versions).json()["items"]
    assert listed[0]["name"] == "before the experiment" and listed[0]["author"]["name"] == "owner"
    assert listed[0]["nodes"] == 7 and listed[0]["edges"] == saved.json()["edges"] > 0
    assert team.viewer.http.post(versions, json={"name": "nope"}).status_code == 403
    other = team.owner.create_workflow()["id"]
    assert team.owner.http.post(f"/api/workflows/{other}/versions/{saved.json()['id']}/restore").status_code == 404
    await alice.close()
    await bob.close()


async def test_many_clients_joining_a_new_room_at_once_all_sync(team: Team, new_user: Callable[..., User]) -> None:
    fresh = team.owner.create_workflow()["id"]
    clients = [YClient(team.url("owner", fresh)) for _ in range(20)]
    await asyncio.gather(*(c.connect() for c in clients))
    await asyncio.gather(*(c.wait_synced() for c in clients))
    add_node(clients[0], "hello")
    for client in clients:
        await eventually(lambda c=client: "hello" in c.nodes)
    await asyncio.gather(*(c.close() for c in clients))


async def test_one_tokens_sockets_opening_many_workflows_at_once_each_get_their_own_answer(
    team: Team, new_user: Callable[..., User]
) -> None:
    """A burst of one credential's sockets on different workflows is admitted by one query for
    all of them; each socket still gets the answer for its own workflow."""
    own = [team.editor.create_workflow(template="marketing-kit")["id"]] + [
        team.editor.create_workflow()["id"] for _ in range(3)
    ]
    outsider = new_user("outsider").create_workflow()["id"]
    gone = team.editor.create_workflow()["id"]
    assert team.editor.http.delete(f"/api/workflows/{gone}").status_code == 204
    urls = {wf: team.url("editor", wf) for wf in [*own, team.workflow_id, outsider, gone]}
    urls["not-a-uuid"] = team.url("editor", "not-a-uuid")
    clients = {wf: YClient(url) for wf, url in urls.items()}
    await asyncio.gather(*(c.connect() for c in clients.values()))
    for wf in [*own, team.workflow_id]:
        await clients[wf].wait_synced()
    # Rooms loaded together, each with its own document: the template's nodes only where they are.
    assert len(clients[own[0]].nodes) == len(clients[team.workflow_id].nodes) > 0
    assert all(len(clients[wf].nodes) == 0 for wf in own[1:])
    for wf in (outsider, gone, "not-a-uuid"):
        assert await clients[wf].wait_closed(timeout=5) == 4404, wf
    add_node(clients[team.workflow_id], "shared-as-editor")  # the editor's role, not a viewer's
    viewer = await team.client("viewer")
    await eventually(lambda: "shared-as-editor" in viewer.nodes)
    await asyncio.gather(*(c.close() for c in [*clients.values(), viewer]))


async def test_a_remembered_admission_ends_with_the_access_it_remembered(team: Team) -> None:
    """Sockets of one token joining an open room reuse the first one's admission; a role change,
    a removal and a revoked token all end that at once."""
    owner = await team.client("owner")  # keeps the room open throughout
    first = await team.client("editor")
    cached = _admissions(team, "cache")
    second = await team.client("editor")  # admitted from what `first` was told
    assert _admissions(team, "cache") == cached + 1
    add_node(second, "by-second")
    await eventually(lambda: "by-second" in owner.nodes, timeout=2)
    path = f"/api/workflows/{team.workflow_id}/members/{team.editor.id}"
    team.owner.http.patch(path, json={"role": "viewer"})
    await eventually(lambda: not first.closed.is_set(), timeout=2)
    demoted = await team.client("editor")
    add_node(demoted, "by-demoted")
    await eventually(lambda: demoted.denied, timeout=2)
    team.owner.http.delete(path)
    assert await first.wait_closed(timeout=2) == 4403
    removed = YClient(team.url("editor"))
    await removed.connect()
    assert await removed.wait_closed(timeout=2) == 4404
    viewer = await team.client("viewer")
    token_id = next(t["id"] for t in team.viewer.http.get("/api/tokens").json()["items"] if t["name"] == "ws")
    assert team.viewer.http.delete(f"/api/tokens/{token_id}").status_code == 204
    assert await viewer.wait_closed(timeout=2) == 4401
    revoked = YClient(team.url("viewer"))
    await revoked.connect()
    assert await revoked.wait_closed(timeout=2) == 4401
    await owner.close()


def _admissions(team: Team, source: str) -> float:
    text = team.owner.http.get("/metrics", headers=METRICS_HEADERS).text
    found = re.search(rf'^galaxy_ws_admissions_total\{{source="{source}"\}} ([0-9.e+]+)$', text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0
