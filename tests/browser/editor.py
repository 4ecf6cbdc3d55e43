"""What the browser tests do on the canvas, in the words of a person using it."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

from playwright.sync_api import Locator, Page, WebSocketRoute, expect

from tests.support import User

MARKETING_NODES = 7
MARKETING_EDGES = 7


def import_workflow(user: User, name: str, nodes: list[dict[str, Any]], edges: list[dict[str, Any]]) -> str:
    body = {"format": "galaxy.workflow", "version": 1, "name": name, "nodes": nodes, "edges": edges}
    response = user.http.post("/api/workflows/import", json=body)
    assert response.status_code == 201, response.text
    workflow_id: str = response.json()["id"]
    return workflow_id


def node_json(node_id: str, node_type: str, x: float, y: float, **data: Any) -> dict[str, Any]:
    return {"id": node_id, "type": node_type, "position": {"x": x, "y": y}, "data": data}


def edge_json(source: str, source_handle: str, target: str, target_handle: str) -> dict[str, Any]:
    return {
        "id": f"e-{source}-{target}-{target_handle}",
        "source": source,
        "sourceHandle": source_handle,
        "target": target,
        "targetHandle": target_handle,
    }


def graph_of(user: User, workflow_id: str) -> dict[str, Any]:
    """The graph the server has stored (its update log is at most about a second behind)."""
    response = user.http.get(f"/api/workflows/{workflow_id}")
    assert response.status_code == 200, response.text
    graph: dict[str, Any] = response.json()["graph"]
    return graph


def stored_graph(user: User, workflow_id: str, check: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """The stored graph once `check` holds for it (the server stores edits in batches)."""
    deadline = time.monotonic() + 10
    while True:
        graph = graph_of(user, workflow_id)
        if check(graph) or time.monotonic() > deadline:
            return graph
        time.sleep(0.1)


def open_canvas(page: Page, workflow_id: str) -> None:
    page.goto(f"/w/{workflow_id}")
    wait_live(page)


def wait_live(page: Page) -> None:
    expect(page.locator(".link-state")).to_have_attribute("data-state", "connected")


def node(page: Page, node_id: str) -> Locator:
    return page.locator(f'.react-flow__node[data-id="{node_id}"]')


def nodes(page: Page) -> Locator:
    return page.locator(".react-flow__node")


def edges(page: Page) -> Locator:
    return page.locator(".react-flow__edge")


def out(page: Page, node_id: str, port: str) -> Locator:
    """An output handle."""
    return page.locator(f'.react-flow__handle[data-nodeid="{node_id}"][data-handleid="{port}"].source')


def into(page: Page, node_id: str, port: str) -> Locator:
    """An input handle."""
    return page.locator(f'.react-flow__handle[data-nodeid="{node_id}"][data-handleid="{port}"].target')


def centre(locator: Locator) -> tuple[float, float]:
    box = locator.bounding_box()
    assert box is not None
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def drag_connection(page: Page, source: Locator, target: Locator, *, release: bool = True) -> None:
    """Drag from an output handle onto an input handle (optionally holding it there)."""
    x0, y0 = centre(source)
    x1, y1 = centre(target)
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move((x0 + x1) / 2, (y0 + y1) / 2, steps=5)
    page.mouse.move(x1, y1, steps=5)
    if release:
        page.mouse.up()


def drag_node(page: Page, node_id: str, dx: float, dy: float) -> None:
    x, y = centre(node(page, node_id).locator(".node-head"))
    x -= 60  # grab the title bar away from the menu button
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + dx / 2, y + dy / 2, steps=4)
    page.mouse.move(x + dx, y + dy, steps=4)
    page.mouse.up()


_TRANSLATE = re.compile(r"translate\((-?[\d.]+)px, ?(-?[\d.]+)px\)")


def position_on_screen(page: Page, node_id: str) -> tuple[float, float]:
    """A node's flow position as React Flow renders it (its transform)."""
    style = node(page, node_id).get_attribute("style") or ""
    match = _TRANSLATE.search(style)
    assert match, style
    return float(match.group(1)), float(match.group(2))


class SocketSwitch:
    """Cuts a page's collaboration socket and lets it back, as a dropped network would."""

    def __init__(self, page: Page) -> None:
        self.blocked = False
        self.routes: list[WebSocketRoute] = []
        page.route_web_socket(re.compile(r"/ws/workflows/"), self._route)

    def _route(self, socket: WebSocketRoute) -> None:
        if self.blocked:
            socket.close(code=1013, reason="network down")
            return
        socket.connect_to_server()
        self.routes.append(socket)

    def cut(self) -> None:
        """Drop the open socket and refuse new ones until `restore`."""
        self.blocked = True
        self.drop()

    def drop(self) -> None:
        """Drop the open socket once; the editor reconnects by itself."""
        for socket in self.routes:
            socket.close(code=1013, reason="network down")
        self.routes.clear()

    def restore(self) -> None:
        self.blocked = False


def data_of(graph: dict[str, Any], node_id: str) -> dict[str, Any]:
    """The data of one node of a stored graph."""
    data: dict[str, Any] = next(n for n in graph["nodes"] if n["id"] == node_id)["data"]
    return data


def placed_at(xy: tuple[float, float]) -> re.Pattern[str]:
    """Matches the style of a node rendered at flow position `xy`."""
    return re.compile(rf"translate\({xy[0]:g}px, ?{xy[1]:g}px\)")
