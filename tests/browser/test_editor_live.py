"""Two people on one canvas: moves, edges, text, cursors, undo, read-only viewers."""

from __future__ import annotations

import re
from collections.abc import Callable

from playwright.sync_api import Page, expect

from tests.browser.conftest import Pages
from tests.browser.editor import (
    data_of,
    drag_connection,
    drag_node,
    edges,
    import_workflow,
    into,
    node,
    node_json,
    nodes,
    open_canvas,
    out,
    placed_at,
    position_on_screen,
    stored_graph,
)
from tests.support import User


def two_people(pages: Pages, person: Callable[[str], User], role: str = "editor") -> tuple[User, User, str, Page, Page]:
    ada, bob = person("Ada"), person("Bob")
    workflow_id = import_workflow(
        ada,
        "Together",
        [
            node_json("t", "text", 0, 0, label="Notes", text=""),
            node_json("l", "llm", 420, 0, label="Writer", user_message="", system_prompt=""),
            node_json("u", "upload_image", 0, 320, label="Photo"),
        ],
        [],
    )
    ada.share(workflow_id, bob, role)
    page_a, page_b = pages.open(ada), pages.open(bob)
    open_canvas(page_a, workflow_id)
    open_canvas(page_b, workflow_id)
    return ada, bob, workflow_id, page_a, page_b


def test_moves_edges_text_and_cursors_appear_live(pages: Pages, person: Callable[[str], User]) -> None:
    _, _, _, page_a, page_b = two_people(pages, person)
    expect(page_a.locator(".avatars .avatar[data-user='Bob']")).to_be_visible()
    expect(page_b.locator(".avatars .avatar[data-user='Ada']")).to_be_visible()

    before = position_on_screen(page_b, "t")
    drag_node(page_a, "t", 120, 80)
    after_a = position_on_screen(page_a, "t")
    assert after_a != before
    expect(node(page_b, "t")).to_have_attribute("style", placed_at(after_a))

    drag_connection(page_a, out(page_a, "t", "text"), into(page_a, "l", "user_message"))
    expect(edges(page_b)).to_have_count(1)
    expect(node(page_b, "l").locator('[data-port="user_message"] .from')).to_have_text("Notes")

    node(page_b, "l").get_by_label("System prompt").click()
    page_b.keyboard.type("Be brief.")
    expect(node(page_a, "l").get_by_label("System prompt")).to_have_value("Be brief.")

    # Ada's cursor shows on Bob's canvas with her name, and goes when she leaves.
    box = page_a.locator(".react-flow__pane").bounding_box()
    assert box is not None
    page_a.mouse.move(box["x"] + 600, box["y"] + 500)
    page_a.mouse.move(box["x"] + 640, box["y"] + 520, steps=3)
    expect(page_b.locator(".cursor[data-user='Ada']")).to_be_visible()
    expect(page_b.locator(".cursor[data-user='Ada'] .cursor-name")).to_have_text("Ada")

    # Her selection is outlined in her colour on Bob's canvas.
    node(page_a, "l").locator(".node-title").click()
    expect(node(page_b, "l").locator(".node")).to_have_css("outline-style", "solid")
    expect(node(page_b, "t").locator(".node")).not_to_have_css("outline-style", "solid")

    page_a.context.close()
    expect(page_b.locator(".cursor[data-user='Ada']")).to_have_count(0)
    expect(page_b.locator(".avatars .avatar[data-user='Ada']")).to_have_count(0)


def test_concurrent_typing_into_one_prompt_merges(pages: Pages, person: Callable[[str], User]) -> None:
    ada, _, workflow_id, page_a, page_b = two_people(pages, person)
    field_a = node(page_a, "t").get_by_label("Text")
    field_b = node(page_b, "t").get_by_label("Text")
    field_a.click()
    field_b.click()
    # Both type at once, letter by letter, without waiting for each other.
    for letter_a, letter_b in zip("ALPHA", "omega", strict=True):
        page_a.keyboard.type(letter_a)
        page_b.keyboard.type(letter_b)
    expect(field_a).to_have_value(re.compile(r"^.{10}$"))
    expect(field_b).to_have_value(field_a.input_value())
    merged = field_a.input_value()
    assert sorted(merged) == sorted("ALPHAomega")
    # Each person's letters stay in their own order (merged character by character, not replaced).
    assert "".join(c for c in merged if c.isupper()) == "ALPHA"
    assert "".join(c for c in merged if c.islower()) == "omega"
    stored = stored_graph(ada, workflow_id, lambda g: data_of(g, "t")["text"] == merged)
    assert data_of(stored, "t")["text"] == merged


def test_undo_and_redo_touch_only_your_own_edits(pages: Pages, person: Callable[[str], User]) -> None:
    _, _, _, page_a, page_b = two_people(pages, person)
    page_a.locator('.palette-item[data-node-type="crop_image"]').click()
    expect(nodes(page_b)).to_have_count(4)
    page_b.locator('.palette-item[data-node-type="extract_frame"]').click()
    expect(nodes(page_a)).to_have_count(5)

    # Ada drags a node (one undo step however many frames), then undoes twice.
    start = position_on_screen(page_a, "t")
    drag_node(page_a, "t", 200, 0)
    assert position_on_screen(page_a, "t") != start
    page_a.locator(".react-flow__pane").click(position={"x": 5, "y": 5})
    page_a.keyboard.press("Control+z")
    expect(node(page_b, "t")).to_have_attribute("style", placed_at(start))
    page_a.keyboard.press("Control+z")
    expect(page_a.locator('.node[data-type="crop_image"]')).to_have_count(0)
    expect(page_b.locator('.node[data-type="crop_image"]')).to_have_count(0)
    # Bob's node is untouched by Ada's undo, and Ada has nothing more to undo of her own.
    page_a.keyboard.press("Control+z")
    expect(page_b.locator('.node[data-type="extract_frame"]')).to_have_count(1)
    expect(nodes(page_a)).to_have_count(4)

    page_a.get_by_role("button", name="Redo").click()
    expect(page_b.locator('.node[data-type="crop_image"]')).to_have_count(1)
    page_a.keyboard.press("Control+Shift+z")
    expect(node(page_b, "t")).not_to_have_attribute("style", placed_at(start))


def test_a_viewer_sees_live_edits_but_cannot_edit(pages: Pages, person: Callable[[str], User]) -> None:
    ada, _, workflow_id, page_a, page_v = two_people(pages, person, role="viewer")
    expect(page_v.get_by_text("View only")).to_be_visible()
    expect(page_v.get_by_label("Workflow name")).to_be_disabled()
    expect(node(page_v, "t").get_by_label("Text")).to_be_disabled()
    expect(page_v.locator(".palette-item").first).to_be_disabled()
    expect(node(page_v, "t").get_by_role("button", name="Node menu")).to_have_count(0)
    expect(page_v.get_by_role("button", name="Undo")).to_be_disabled()

    before = position_on_screen(page_v, "t")
    drag_node(page_v, "t", 150, 150)
    assert position_on_screen(page_v, "t") == before
    node(page_v, "t").locator(".node-title").click()
    page_v.keyboard.press("Delete")
    expect(node(page_v, "t")).to_have_count(1)

    node(page_a, "t").get_by_label("Text").fill("from the owner")
    expect(node(page_v, "t").get_by_label("Text")).to_have_value("from the owner")
    stored = stored_graph(ada, workflow_id, lambda g: len(g["nodes"]) == 3)
    assert [n["position"] for n in stored["nodes"] if n["id"] == "t"] == [{"x": 0, "y": 0}]


def test_undo_in_a_prompt_takes_back_only_my_typing(pages: Pages, person: Callable[[str], User]) -> None:
    _, _, _, page_a, page_b = two_people(pages, person)
    notes_a = node(page_a, "t").get_by_label("Text")
    notes_b = node(page_b, "t").get_by_label("Text")
    notes_a.click()
    page_a.keyboard.type("mine ")
    expect(notes_b).to_have_value("mine ")
    notes_b.click()
    page_b.keyboard.press("End")
    page_b.keyboard.type("theirs")
    expect(notes_a).to_have_value("mine theirs")
    notes_a.click()
    page_a.keyboard.press("Control+z")
    expect(notes_a).to_have_value("theirs")
    expect(notes_b).to_have_value("theirs")
    page_a.keyboard.press("Control+Shift+z")
    expect(notes_b).to_have_value("mine theirs")
