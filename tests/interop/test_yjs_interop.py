"""Stock Yjs clients (yjs + y-websocket from npm, in Node) and a pycrdt client edit one workflow."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pycrdt import Map, Text

from tests.collab_client import YClient, eventually
from tests.support import User

pytestmark = pytest.mark.anyio
SCRIPT = Path(__file__).with_name("yclient.mjs")


class NodeClient:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.state: dict[str, Any] = {}
        self.closes: list[int] = []
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def start(cls, base_url: str, workflow_id: str, token: str, name: str) -> NodeClient:
        process = await asyncio.create_subprocess_exec(
            "node", str(SCRIPT), base_url.replace("http://", "ws://") + "/ws/workflows", workflow_id, token, name,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        return cls(process)

    async def _read(self) -> None:
        assert self.process.stdout is not None
        async for line in self.process.stdout:
            message = json.loads(line)
            if "closed" in message:
                self.closes.append(message["closed"])
            else:
                self.state = message

    async def command(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line.encode() + b"\n")
        await self.process.stdin.drain()

    async def quit(self) -> None:
        await self.command("quit")
        await asyncio.wait_for(self.process.wait(), 10)
        await self._reader


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is required for the interop tests")
async def test_node_and_pycrdt_clients_converge_with_presence(base_url: str, new_user: Callable[..., User]) -> None:
    ada, bob, cyd = new_user("ada"), new_user("bob"), new_user("cyd")
    workflow_id = ada.create_workflow()["id"]
    ada.share(workflow_id, bob, "editor")
    ada.share(workflow_id, cyd, "editor")
    tokens = [u.http.post("/api/tokens", json={"name": "interop"}).json()["token"] for u in (ada, bob, cyd)]

    node_a = await NodeClient.start(base_url, workflow_id, tokens[0], "ada")
    node_b = await NodeClient.start(base_url, workflow_id, tokens[1], "bob")
    python = await (
        await YClient(f"{base_url.replace('http', 'ws')}/ws/workflows/{workflow_id}?token={tokens[2]}").connect()
    ).wait_synced()
    await python.set_presence(4242, 1, {"cursor": {"x": 3, "y": 4}})
    await eventually(lambda: node_a.state.get("synced") and node_b.state.get("synced"))

    await node_a.command("add from-node-a")
    await node_b.command("add from-node-b")
    with python.doc.transaction():
        python.nodes["from-pycrdt"] = Map(
            {"type": "text", "position": {"x": 0, "y": 0}, "data": Map({"text": Text("py")})}
        )
    everything = ["from-node-a", "from-node-b", "from-pycrdt"]
    await eventually(lambda: node_a.state.get("nodes") == everything and node_b.state.get("nodes") == everything)
    await eventually(lambda: sorted(python.nodes.keys()) == everything)
    assert str(python.nodes["from-node-a"]["data"]["text"]) == "from ada"

    # Presence: names come from the accounts, not from what a client claims.
    await eventually(
        lambda: node_a.state.get("peers") == ["bob", "cyd"] and node_b.state.get("peers") == ["ada", "cyd"]
    )
    await eventually(
        lambda: sorted(s["user"]["name"] for c, s in python.awareness.items() if c != 4242) == ["ada", "bob"]
    )
    # ... and leaves with its client.
    await node_b.quit()
    await eventually(lambda: node_a.state.get("peers") == ["cyd"])
    await eventually(lambda: sorted(s["user"]["name"] for c, s in python.awareness.items() if c != 4242) == ["ada"])
    await node_a.quit()
    await python.close()


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is required for the interop tests")
async def test_stock_client_stops_retrying_on_4xxx(base_url: str, new_user: Callable[..., User]) -> None:
    owner, stranger = new_user("owner"), new_user("stranger")
    workflow_id = owner.create_workflow()["id"]
    token = stranger.http.post("/api/tokens", json={"name": "interop"}).json()["token"]
    client = await NodeClient.start(base_url, workflow_id, token, "stranger")
    await eventually(lambda: client.closes)
    await asyncio.sleep(3)  # y-websocket would have retried within 2.5 s for any other code
    assert client.closes == [4404]
    await client.quit()
