"""A member writes what Postgres refuses and what spoofs a name into the live document; every
endpoint that reads the document still answers, and nothing it returns or stores carries it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

from pycrdt import Map, Text

from server.settings import Settings
from tests.collab_client import YClient
from tests.support import User, assert_problem, sql

HOSTILE_NAME = "Evil\x00 \u202egnp.exe\u200b"
HOSTILE_TEXT = "before\x00after"
BAD = ("\x00", "\\u0000", "\u202e", "\u200b")


def _clean(body: object) -> None:
    text = json.dumps(body, ensure_ascii=False)
    for bad in BAD:
        assert bad not in text, (bad, text[:500])


def _write_hostile(user: User, workflow_id: str, token: str) -> None:
    url = user.base_url.replace("http://", "ws://") + f"/ws/workflows/{workflow_id}?token={token}"

    async def write() -> None:
        client = await (await YClient(url).connect()).wait_synced()
        with client.doc.transaction():
            client.meta["name"] = HOSTILE_NAME
            client.nodes["ok"] = Map(
                {
                    "type": "text",
                    "position": {"x": 0, "y": 0},
                    "data": Map({"text": Text(HOSTILE_TEXT), "label": "K\x00"}),
                }
            )
            client.nodes["t\x00x"] = Map(
                {
                    "type": "text",
                    "position": {"x": 0, "y": 0},
                    "data": Map({"text": Text(HOSTILE_TEXT), "label": "L\x00"}),
                }
            )
        deadline = asyncio.get_running_loop().time() + 10
        while "t\x00x" not in _stored(user, workflow_id):
            assert asyncio.get_running_loop().time() < deadline, "the edit never reached the server"
            await asyncio.sleep(0.05)
        await client.close()

    asyncio.run(write())


def _stored(user: User, workflow_id: str) -> list[str]:
    # Raw document content as the server holds it, via the export (which sanitises ids to U+FFFD).
    body = user.http.get(f"/api/workflows/{workflow_id}/export").json()
    return [n["id"].replace("\ufffd", "\x00") for n in body.get("nodes", [])]


def test_every_endpoint_survives_a_hostile_document(settings: Settings, new_user: Callable[..., User]) -> None:
    owner = new_user("owner")
    workflow_id = owner.create_workflow(name="Fine")["id"]
    token = owner.http.post("/api/tokens", json={"name": "ws"}).json()["token"]
    saved = owner.http.post(f"/api/workflows/{workflow_id}/versions", json={"name": "clean"})
    assert saved.status_code == 201
    _write_hostile(owner, workflow_id, token)

    detail = owner.http.get(f"/api/workflows/{workflow_id}")
    assert detail.status_code == 200
    _clean(detail.json())
    assert detail.json()["name"].startswith("Evil")
    texts = {n["id"]: n["data"].get("text") for n in detail.json()["graph"]["nodes"]}
    assert texts == {"t\ufffdx": "before\ufffdafter", "ok": "before\ufffdafter"}

    exported = owner.http.get(f"/api/workflows/{workflow_id}/export")
    assert exported.status_code == 200
    _clean(exported.json())
    # The node id is not a valid id, which import names; the name itself imports fine.
    assert_problem(owner.http.post("/api/workflows/import", json=exported.json()), 422, "node id")
    reimported = owner.http.post("/api/workflows/import", json={**exported.json(), "nodes": []})
    assert reimported.status_code == 201, reimported.text

    copy = owner.http.post(f"/api/workflows/{workflow_id}/duplicate")
    assert copy.status_code == 201, copy.text
    _clean(copy.json())

    version = owner.http.post(f"/api/workflows/{workflow_id}/versions", json={"name": "hostile"})
    assert version.status_code == 201, version.text
    listed = owner.http.get(f"/api/workflows/{workflow_id}/versions")
    assert listed.status_code == 200 and len(listed.json()["items"]) == 2
    for target in (saved.json()["id"], version.json()["id"]):
        restored = owner.http.post(f"/api/workflows/{workflow_id}/versions/{target}/restore")
        assert restored.status_code == 200, restored.text
        _clean(restored.json())

    renamed = owner.http.patch(f"/api/workflows/{workflow_id}", json={"name": "Renamed"})
    assert renamed.status_code == 200, renamed.text

    run = owner.http.post(f"/api/workflows/{workflow_id}/runs", json={"scope": "single", "node_ids": ["ok"]})
    assert run.status_code == 202, run.text
    shown = owner.http.get(f"/api/runs/{run.json()['id']}")
    assert shown.status_code == 200
    _clean(shown.json())

    page = owner.http.get("/api/workflows", params={"limit": 100})
    assert page.status_code == 200
    _clean(page.json())
    names = sql(settings.database_url, "SELECT name FROM workflows WHERE owner = $1::uuid", owner.id)
    _clean([row["name"] for row in names])
