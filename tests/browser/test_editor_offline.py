"""Editing with the socket down: kept on the device across a reload, merged when it is back."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import expect

from tests.browser.conftest import Pages
from tests.browser.editor import SocketSwitch, import_workflow, node, node_json, nodes, open_canvas, stored_graph
from tests.support import User


def test_offline_edits_survive_a_reload_and_merge_on_reconnect(pages: Pages, person: Callable[[str], User]) -> None:
    ada, bob = person("Ada"), person("Bob")
    workflow_id = import_workflow(ada, "Offline", [node_json("t", "text", 0, 0, label="Words", text="start")], [])
    ada.share(workflow_id, bob, "editor")
    page_a, page_b = pages.open(ada), pages.open(bob)
    switch = SocketSwitch(page_a)
    open_canvas(page_a, workflow_id)
    open_canvas(page_b, workflow_id)

    switch.cut()
    expect(page_a.locator(".link-state")).not_to_have_attribute("data-state", "connected")
    page_a.locator('.palette-item[data-node-type="llm"]').click()
    page_a.get_by_label("Workflow name").fill("Renamed offline")
    # Meanwhile Bob keeps editing online.
    node(page_b, "t").get_by_label("Text").fill("bob was here")

    # A reload while still offline loses nothing: the edits come back from this device.
    page_a.reload()
    expect(nodes(page_a)).to_have_count(2)
    expect(page_a.get_by_label("Workflow name")).to_have_value("Renamed offline")
    expect(page_a.locator(".link-state")).not_to_have_attribute("data-state", "connected")
    expect(nodes(page_b)).to_have_count(1)

    switch.restore()
    expect(page_a.locator(".link-state")).to_have_attribute("data-state", "connected", timeout=10000)
    expect(nodes(page_b)).to_have_count(2)
    expect(page_b.get_by_label("Workflow name")).to_have_value("Renamed offline")
    expect(node(page_a, "t").get_by_label("Text")).to_have_value("bob was here")
    stored = stored_graph(ada, workflow_id, lambda g: len(g["nodes"]) == 2)
    assert sorted(n["type"] for n in stored["nodes"]) == ["llm", "text"]

    # Signing out deletes the copies this browser kept.
    kept = "async () => (await indexedDB.databases()).map(d => d.name).filter(n => n.startsWith('galaxy:'))"
    assert page_a.evaluate(kept) == [f"galaxy:{ada.id}:{workflow_id}"]
    page_a.get_by_role("link", name="All workflows").click()
    page_a.get_by_role("button", name="Sign out").click()
    expect(page_a.get_by_role("tab", name="Sign in")).to_be_visible()
    assert page_a.evaluate(kept) == []
