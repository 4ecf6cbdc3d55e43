"""Sharing, roles changing live, version history, export and import, and why a socket closed."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import msgspec
from playwright.sync_api import expect

from server.settings import Settings
from tests.browser.conftest import Pages
from tests.browser.editor import (
    MARKETING_EDGES,
    MARKETING_NODES,
    SocketSwitch,
    edges,
    graph_of,
    import_workflow,
    node,
    node_json,
    nodes,
    open_canvas,
    stored_graph,
    wait_live,
)
from tests.support import Clients, User, run_server


def test_share_from_the_canvas_and_change_the_role_live(pages: Pages, person: Callable[[str], User]) -> None:
    ada, bob = person("Ada"), person("Bob")
    workflow = ada.create_workflow(template="marketing-kit")
    page_bob = pages.open(bob)
    expect(page_bob.get_by_text("No workflows yet")).to_be_visible()

    page_ada = pages.open(ada)
    open_canvas(page_ada, workflow["id"])
    page_ada.get_by_role("button", name="Share").click()
    dialog = page_ada.get_by_role("dialog", name="Share workflow")
    dialog.get_by_label("Email to invite").fill("nobody-here@example.com")
    dialog.get_by_role("button", name="Invite").click()
    expect(dialog.get_by_role("alert")).to_be_visible()
    dialog.get_by_label("Email to invite").fill(bob.email)
    dialog.get_by_role("button", name="Invite").click()
    expect(dialog.locator(f'li[data-email="{bob.email.lower()}"]')).to_be_visible()

    # Bob's list shows the shared workflow by itself, with its owner and his role.
    item = page_bob.locator(f'li[data-workflow-id="{workflow["id"]}"]')
    expect(item).to_contain_text("Shared by Ada", timeout=10000)
    expect(item.locator(".badge")).to_have_text("editor")
    item.get_by_role("link").click()
    wait_live(page_bob)
    expect(node(page_bob, "details").get_by_label("Text")).to_be_enabled()

    # Ada makes him a viewer: his canvas turns read-only without a reload.
    dialog.get_by_label("Role of Bob").select_option("viewer")
    expect(page_bob.get_by_text("View only")).to_be_visible()
    expect(node(page_bob, "details").get_by_label("Text")).to_be_disabled()
    dialog.get_by_label("Role of Bob").select_option("editor")
    expect(node(page_bob, "details").get_by_label("Text")).to_be_enabled()

    # Removed, he is told so in words, and the canvas stops.
    dialog.get_by_role("button", name="Remove Bob").click()
    expect(page_bob.locator(".banner.bad")).to_contain_text("You no longer have access to this workflow")
    expect(page_bob.locator(".link-state")).to_have_attribute("data-state", "closed")


def test_restore_a_named_version_for_everyone(pages: Pages, person: Callable[[str], User]) -> None:
    ada, bob = person("Ada"), person("Bob")
    workflow_id = import_workflow(ada, "History", [node_json("t", "text", 0, 0, label="Words", text="first")], [])
    ada.share(workflow_id, bob, "viewer")
    page_a, page_b = pages.open(ada), pages.open(bob)
    open_canvas(page_a, workflow_id)
    open_canvas(page_b, workflow_id)

    page_a.get_by_role("button", name="History").click()
    panel = page_a.get_by_role("region", name="Version history")
    panel.get_by_label("Version name").fill("Before the change")
    panel.get_by_role("button", name="Save").click()
    expect(panel.locator('li[data-version="Before the change"]')).to_contain_text("1 nodes")

    page_a.locator('.palette-item[data-node-type="llm"]').click()
    node(page_a, "t").get_by_label("Text").fill("second")
    expect(nodes(page_b)).to_have_count(2)
    stored_graph(ada, workflow_id, lambda g: len(g["nodes"]) == 2)

    panel.get_by_role("button", name="Restore Before the change").click()
    page_a.get_by_role("dialog", name="Restore this version?").get_by_role("button", name="Restore").click()
    expect(nodes(page_a)).to_have_count(1)
    expect(nodes(page_b)).to_have_count(1)
    expect(node(page_b, "t").get_by_label("Text")).to_have_value("first")
    # The viewer sees the history but cannot restore.
    page_b.get_by_role("button", name="History").click()
    history_b = page_b.get_by_role("region", name="Version history")
    expect(history_b.locator('li[data-version="Before the change"]')).to_be_visible()
    expect(page_b.get_by_role("button", name="Restore Before the change")).to_have_count(0)


def test_export_then_import_gives_the_same_graph(pages: Pages, person: Callable[[str], User], tmp_path: Path) -> None:
    ada = person("Ada")
    workflow = ada.create_workflow(template="marketing-kit")
    page = pages.open(ada)
    open_canvas(page, workflow["id"])
    with page.expect_download() as download:
        page.get_by_role("button", name="Export").click()
    path = tmp_path / "exported.json"
    download.value.save_as(path)
    exported = json.loads(path.read_text())
    assert exported["format"] == "galaxy.workflow" and len(exported["nodes"]) == MARKETING_NODES

    page.get_by_role("link", name="All workflows").click()
    page.get_by_label("Workflow file to import").set_input_files(str(path))
    expect(page.locator(".wf")).to_have_count(2)
    imported_id = next(w["id"] for w in ada.http.get("/api/workflows").json()["items"] if w["id"] != workflow["id"])
    assert graph_of(ada, imported_id) == graph_of(ada, workflow["id"])
    open_canvas(page, imported_id)
    expect(nodes(page)).to_have_count(MARKETING_NODES)
    expect(edges(page)).to_have_count(MARKETING_EDGES)

    # A file that is not a workflow is refused in place, and nothing is created.
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "something else"}')
    page.get_by_role("link", name="All workflows").click()
    page.get_by_label("Workflow file to import").set_input_files(str(bad))
    expect(page.get_by_role("alert")).to_contain_text("not a Galaxy workflow file")
    expect(page.locator(".wf")).to_have_count(2)


def test_list_rename_duplicate_delete_with_confirmation(pages: Pages, person: Callable[[str], User]) -> None:
    ada = person("Ada")
    ada.create_workflow(name="Draft")
    page = pages.open(ada)
    item = page.locator(".wf", has_text="Draft")
    item.get_by_role("button", name="Rename Draft").click()
    page.get_by_role("dialog").get_by_label("Name").fill("Launch plan")
    page.get_by_role("dialog").get_by_role("button", name="Rename").click()
    expect(page.locator(".wf-name", has_text="Launch plan")).to_be_visible()
    page.get_by_role("button", name="Duplicate Launch plan").click()
    expect(page.locator(".wf-name", has_text="Copy of Launch plan")).to_be_visible()
    page.get_by_role("button", name="Delete Copy of Launch plan").click()
    page.get_by_role("dialog", name="Delete workflow?").get_by_role("button", name="Cancel").click()
    expect(page.locator(".wf")).to_have_count(2)
    page.get_by_role("button", name="Delete Copy of Launch plan").click()
    page.get_by_role("dialog", name="Delete workflow?").get_by_role("button", name="Delete").click()
    expect(page.locator(".wf")).to_have_count(1)


def test_closed_sockets_are_explained(pages: Pages, person: Callable[[str], User]) -> None:
    ada, bob, eve = person("Ada"), person("Bob"), person("Eve")
    workflow = ada.create_workflow(name="Short-lived")
    ada.share(workflow["id"], bob, "editor")

    # Someone it is not shared with learns only that it is not there for them.
    page_eve = pages.open(eve, f"/w/{workflow['id']}")
    expect(page_eve.get_by_role("alert")).to_contain_text("does not exist, or it is not shared with you")

    page_bob = pages.open(bob)
    open_canvas(page_bob, workflow["id"])
    assert ada.http.delete(f"/api/workflows/{workflow['id']}").status_code == 204
    expect(page_bob.locator(".banner.bad")).to_contain_text("This workflow was deleted by its owner.")

    # A session that ended closes the next socket with 4401, which is said in words too.
    workflow = ada.create_workflow(name="Signed out")
    page_ada = pages.open(ada)
    switch = SocketSwitch(page_ada)
    open_canvas(page_ada, workflow["id"])
    page_ada.context.clear_cookies()
    switch.drop()
    expect(page_ada.locator(".banner.bad")).to_contain_text("Your session has ended. Sign in again to keep editing.")


def test_a_change_past_the_node_limit_is_refused_in_words(pages: Pages, clients: Clients, settings: Settings) -> None:
    with run_server(msgspec.structs.replace(settings, max_nodes=2)) as url:
        ada = clients.user(url, "Ada")
        workflow_id = import_workflow(ada, "Full", [node_json("a", "text", 0, 0), node_json("b", "text", 400, 0)], [])
        page = pages.open(ada, base_url=url)
        open_canvas(page, workflow_id)
        page.locator('.palette-item[data-node-type="llm"]').click()
        expect(page.locator(".toast.bad")).to_contain_text("Too many nodes: a workflow holds at most 2 nodes")
        expect(nodes(page)).to_have_count(2)
