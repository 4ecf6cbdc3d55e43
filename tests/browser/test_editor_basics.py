"""One person on the canvas: account pages, the template, the palette, connection rules."""

from __future__ import annotations

import re
from collections.abc import Callable

from playwright.sync_api import expect

from tests.browser.conftest import Pages
from tests.browser.editor import (
    MARKETING_EDGES,
    MARKETING_NODES,
    data_of,
    drag_connection,
    edge_json,
    edges,
    import_workflow,
    into,
    node,
    node_json,
    nodes,
    open_canvas,
    out,
    stored_graph,
    wait_live,
)
from tests.support import PASSWORD, User


def test_sign_up_sign_in_errors_in_place_and_sign_out(pages: Pages, person: Callable[[str], User]) -> None:
    existing = person("Existing")
    page = pages.open(None)
    page.get_by_role("tab", name="Sign up").click()
    page.get_by_label("Name").fill("Grace")
    page.get_by_label("Email").fill(existing.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("alert")).to_contain_text("already")

    page.get_by_role("tab", name="Sign in").click()
    page.get_by_label("Email").fill(existing.email)
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_be_visible()
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Workflows")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("tab", name="Sign in")).to_be_visible()


def test_sign_up_then_create_from_template_shows_its_nodes_and_edges(pages: Pages) -> None:
    page = pages.open(None)
    page.get_by_role("tab", name="Sign up").click()
    page.get_by_label("Name").fill("Ada Lovelace")
    page.get_by_label("Email").fill(f"ada-{id(page)}@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_text("No workflows yet")).to_be_visible()
    page.get_by_role("button", name="New from template").click()
    page.wait_for_url("**/w/**")
    wait_live(page)
    expect(nodes(page)).to_have_count(MARKETING_NODES)
    expect(edges(page)).to_have_count(MARKETING_EDGES)
    expect(page.get_by_label("Workflow name")).to_have_value("Product Marketing Kit Generator")
    # A connected input shows where its value comes from instead of a field.
    expect(node(page, "copywriter").locator('[data-port="user_message"] .from')).to_have_text("Product details")
    prompt = node(page, "copywriter").get_by_label("System prompt")
    expect(prompt).to_have_value(re.compile("senior marketing copywriter"))


def test_palette_adds_every_node_type_by_click_and_by_drag(pages: Pages, person: Callable[[str], User]) -> None:
    ada = person("Ada")
    workflow = ada.create_workflow(name="Palette")
    page = pages.open(ada)
    open_canvas(page, workflow["id"])
    expect(page.get_by_text("Add a node from the left")).to_be_visible()
    items = page.locator(".palette-item")
    types = [items.nth(i).get_attribute("data-node-type") for i in range(items.count())]
    assert types == ["text", "upload_image", "upload_video", "llm", "crop_image", "extract_frame"]
    for count, node_type in enumerate(types, start=1):
        page.locator(f'.palette-item[data-node-type="{node_type}"]').click()
        expect(nodes(page)).to_have_count(count)
        expect(page.locator(f'.node[data-type="{node_type}"]')).to_have_count(1)
    page.get_by_label("Search nodes").fill("frame")
    expect(page.locator(".palette-item")).to_have_count(1)
    entry = page.locator('.palette-item[data-node-type="extract_frame"]')
    entry.drag_to(page.locator(".react-flow__pane"), target_position={"x": 120, "y": 120})
    expect(nodes(page)).to_have_count(len(types) + 1)
    stored = stored_graph(ada, workflow["id"], lambda g: len(g["nodes"]) == len(types) + 1)
    assert sorted(n["type"] for n in stored["nodes"]) == sorted([*types, "extract_frame"])
    # Every parameter can be edited on the node, and lands in the document.
    llm = page.locator('.node[data-type="llm"]')
    llm.get_by_label("Temperature").fill("1.2")
    llm.get_by_label("Temperature").blur()
    expect(llm.get_by_label("Temperature")).to_have_value("1.2")
    llm.get_by_label("Temperature").fill("7")
    expect(llm.locator(".field-error")).to_have_text("The maximum is 2.")
    llm_id = next(n["id"] for n in stored["nodes"] if n["type"] == "llm")
    stored = stored_graph(ada, workflow["id"], lambda g: data_of(g, llm_id)["temperature"] == 1.2)
    assert data_of(stored, llm_id)["temperature"] == 1.2

    # The node list collapses and comes back.
    page.get_by_role("button", name="Hide the node list").click()
    expect(page.locator(".palette-item")).to_have_count(0)
    page.get_by_role("button", name="Show the node list").click()
    expect(page.locator(".palette-item").first).to_be_visible()


def test_connections_refused_while_dragging_with_the_reason(pages: Pages, person: Callable[[str], User]) -> None:
    ada = person("Ada")
    workflow_id = import_workflow(
        ada,
        "Rules",
        [
            node_json("img", "upload_image", 0, 0, label="Photo"),
            node_json("a", "llm", 400, 0, label="First"),
            node_json("b", "llm", 800, 0, label="Second"),
        ],
        [{"id": "ab", "source": "a", "sourceHandle": "output", "target": "b", "targetHandle": "user_message"}],
    )
    page = pages.open(ada)
    open_canvas(page, workflow_id)
    expect(edges(page)).to_have_count(1)

    # An image output cannot feed a text input: refused while the drag hovers the handle.
    hint = page.locator(".connect-hint")
    drag_connection(page, out(page, "img", "image"), into(page, "a", "user_message"), release=False)
    expect(hint).to_contain_text("Type mismatch: Image gives an image, but User message takes text.")
    page.mouse.up()
    expect(page.locator(".connect-hint")).to_be_visible()
    expect(edges(page)).to_have_count(1)

    # b's output into a's input would close the loop a → b → a.
    drag_connection(page, out(page, "b", "output"), into(page, "a", "system_prompt"), release=False)
    expect(page.locator(".connect-hint")).to_contain_text("This would close a cycle: First → Second → First.")
    page.mouse.up()
    expect(edges(page)).to_have_count(1)

    # A second edge into a single-valued input is refused; a valid one is stored.
    drag_connection(page, out(page, "a", "output"), into(page, "b", "user_message"), release=False)
    expect(page.locator(".connect-hint")).to_contain_text("These ports are already connected.")
    page.mouse.up()
    drag_connection(page, out(page, "img", "image"), into(page, "b", "images"))
    expect(edges(page)).to_have_count(2)
    assert len(stored_graph(ada, workflow_id, lambda g: len(g["edges"]) == 2)["edges"]) == 2
    expect(node(page, "b").locator('[data-port="images"] .from')).to_have_text("Photo")


def test_select_delete_copy_paste_duplicate_and_shortcuts(pages: Pages, person: Callable[[str], User]) -> None:
    ada = person("Ada")
    workflow_id = import_workflow(
        ada,
        "Selection",
        [node_json("t", "text", 0, 0, label="Words", text="hi"), node_json("l", "llm", 400, 0, label="Model")],
        [{"id": "tl", "source": "t", "sourceHandle": "text", "target": "l", "targetHandle": "user_message"}],
    )
    page = pages.open(ada)
    open_canvas(page, workflow_id)
    node(page, "t").locator(".node-title").click()
    node(page, "l").locator(".node-title").click(modifiers=["Shift"])
    expect(page.locator(".node.selected")).to_have_count(2)
    page.keyboard.press("Control+c")
    page.keyboard.press("Control+v")
    expect(nodes(page)).to_have_count(4)
    expect(edges(page)).to_have_count(2)  # the inner edge came along
    page.keyboard.press("Control+d")
    expect(nodes(page)).to_have_count(6)
    expect(edges(page)).to_have_count(3)

    # Delete from the node menu, then with the keyboard.
    node(page, "l").get_by_role("button", name="Node menu").click()
    page.get_by_role("menuitem", name="Delete").click()
    expect(node(page, "l")).to_have_count(0)
    node(page, "t").locator(".node-title").click()
    page.keyboard.press("Delete")
    expect(node(page, "t")).to_have_count(0)
    assert len(stored_graph(ada, workflow_id, lambda g: len(g["nodes"]) == 4)["nodes"]) == 4

    page.keyboard.press("?")
    expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_contain_text("Duplicate the selection")
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog")).to_have_count(0)


# Where a connection starts and ends on screen, and the centres of the handles it joins.
EDGE_ENDS = """(link) => {
  const path = document.querySelector(`.react-flow__edge[data-id="${link.id}"] path.react-flow__edge-path`);
  const ctm = path.getScreenCTM();
  const at = (length) => {
    const p = path.getPointAtLength(length); return new DOMPoint(p.x, p.y).matrixTransform(ctm) };
  const start = at(0), end = at(path.getTotalLength());
  const centre = (node, handle) => {
    const handleAt = `.react-flow__handle[data-nodeid="${node}"][data-handleid="${handle}"]`;
    const r = document.querySelector(handleAt).getBoundingClientRect();
    return [r.x + r.width / 2, r.y + r.height / 2, r.width] };
  return { start: [start.x, start.y], end: [end.x, end.y],
    from: centre(link.source, link.sourceHandle), to: centre(link.target, link.targetHandle) } }"""


LAYERED_NODES = """() => [...document.querySelectorAll('.react-flow__node')]
  .filter((node) => getComputedStyle(node).willChange === 'transform').length"""


def test_a_large_canvas_draws_connections_from_handle_to_handle_wherever_it_is_moved(
    pages: Pages, person: Callable[[str], User]
) -> None:
    # Past 150 nodes the canvas pans as one layer with a box of its own (Canvas.tsx, contentBox):
    # nodes and connections must stay where the flow puts them, also left of and above the origin.
    ada = person("Ada")
    texts = [node_json(f"t{i}", "text", (i % 16) * 360 - 3000, (i // 16) * 260 - 2000) for i in range(160)]
    llms = [node_json(f"l{i}", "llm", (i % 16) * 360 - 3000, 2800 + i * 10) for i in range(0, 160, 40)]
    links = [edge_json(f"t{i}", "text", f"l{i}", "user_message") for i in range(0, 160, 40)]
    workflow_id = import_workflow(ada, "Large", texts + llms, links)
    page = pages.open(ada)
    open_canvas(page, workflow_id)
    expect(page.locator(".canvas.large")).to_have_count(1)
    expect(edges(page)).to_have_count(len(links))

    def assert_joined() -> None:
        for link in links:
            ends = page.evaluate(EDGE_ENDS, link)
            for (x, y), (cx, cy, size) in ((ends["start"], ends["from"]), (ends["end"], ends["to"])):
                assert abs(x - cx) <= size + 2 and abs(y - cy) <= size + 2, (link["id"], ends)

    page.wait_for_timeout(300)  # the fitted view
    assert_joined()
    # Once it is drawn and the page idle, every node is a layer of its own (editor.css): the
    # connections stay joined to the handles of nodes that are layers.
    expect(page.locator(".canvas.large")).to_have_attribute("data-layered", "")
    assert page.evaluate(LAYERED_NODES) == len(texts) + len(llms)
    assert_joined()
    pane = page.locator(".react-flow__pane")
    box = pane.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] - 30, box["y"] + 30)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] - 330, box["y"] + 230, steps=8)
    page.mouse.up()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.wheel(0, -600)
    page.wait_for_timeout(400)
    assert_joined()
    # Pointer events reach the nodes in their box: a click selects the node under it.
    page.locator(".react-flow__controls-fitview").click()
    page.wait_for_timeout(400)
    assert_joined()
    target = page.locator(".react-flow__node.react-flow__node-llm").first
    target.locator(".node-head").click()
    expect(target).to_have_class(re.compile(r"\bselected\b"))


def test_a_large_canvas_gets_its_layers_in_a_browser_without_idle_callbacks(
    pages: Pages, person: Callable[[str], User]
) -> None:
    ada = person("Ada")
    texts = [node_json(f"t{i}", "text", (i % 16) * 360, (i // 16) * 260) for i in range(160)]
    workflow_id = import_workflow(ada, "Large", texts, [])
    page = pages.open(ada)
    page.context.add_init_script("delete window.requestIdleCallback; delete window.cancelIdleCallback")
    open_canvas(page, workflow_id)
    assert page.evaluate("typeof window.requestIdleCallback") == "undefined"
    expect(page.locator(".canvas.large")).to_have_attribute("data-layered", "")
    assert page.evaluate(LAYERED_NODES) == len(texts)


def test_the_overview_shows_every_node_and_moves_and_zooms_the_view(
    pages: Pages, person: Callable[[str], User]
) -> None:
    ada = person("Ada")
    placed = [node_json(f"n{i}", "text", (i % 5) * 400, (i // 5) * 300) for i in range(12)]
    workflow_id = import_workflow(ada, "Overview", placed, [])
    page = pages.open(ada)
    open_canvas(page, workflow_id)
    overview = page.get_by_role("img", name="Overview of the canvas")
    expect(overview.locator(".overview-nodes")).to_have_attribute("data-count", "12")
    assert overview.locator(".overview-nodes").get_attribute("d").count("M") == 12  # type: ignore[union-attr]

    viewport = page.locator(".react-flow__viewport")
    before = viewport.get_attribute("style")
    box = overview.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + 10, box["y"] + 10)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] - 10, box["y"] + box["height"] - 10, steps=5)
    page.mouse.up()
    expect(viewport).not_to_have_attribute("style", before or "")  # the view followed the pointer

    zoom_of = "new DOMMatrix(getComputedStyle(document.querySelector('.react-flow__viewport')).transform).a"
    zoom_before = page.evaluate(f"() => {zoom_of}")
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.wheel(0, -200)
    page.wait_for_function(f"(z) => {zoom_of} > z", arg=zoom_before)
