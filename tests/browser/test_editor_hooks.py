"""Webhooks from the canvas: make one and copy its secret, watch its deliveries arrive, open the
run one started, switch it off, rotate, edit and delete it; a viewer only reads."""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx
from playwright.sync_api import expect

from tests.browser.conftest import Pages
from tests.browser.editor import import_workflow, node_json, open_canvas
from tests.support import User


def _workflow_with_inputs(owner: User) -> str:
    nodes = [
        node_json("topic", "text", 0, 0, text="", input_name="topic", label="Topic"),
        node_json("tone", "text", 0, 200, text="Friendly", input_name="tone", label="Tone"),
    ]
    return import_workflow(owner, "Hooked", nodes, [])


def _send(url: str, secret: str, inputs: dict[str, object]) -> httpx.Response:
    return httpx.post(url, json={"inputs": inputs}, headers={"Authorization": f"Bearer {secret}"})


def test_an_editor_makes_a_webhook_sees_its_deliveries_and_opens_the_run(
    pages: Pages, person: Callable[[str], User]
) -> None:
    ada = person("Ada")
    workflow_id = _workflow_with_inputs(ada)
    page = pages.open(ada)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    open_canvas(page, workflow_id)
    page.get_by_role("button", name="Webhooks").click()
    dialog = page.get_by_role("dialog", name="Webhooks")
    expect(dialog.get_by_label("Inputs")).to_have_text("Inputs: tone, topic (required)")
    expect(dialog.get_by_text("No webhooks yet.")).to_be_visible()

    # A callback URL on this machine over plain HTTP is refused with the reason; nothing is made.
    form = dialog.get_by_role("form", name="New webhook")
    form.get_by_label("Name").fill("Signup form")
    form.get_by_label("Callback URL (optional)").fill("http://127.0.0.1:9/finished")
    form.get_by_role("button", name="Create webhook").click()
    expect(dialog.get_by_role("alert")).to_contain_text("https")
    expect(dialog.locator("li.hook")).to_have_count(0)

    form.get_by_label("Callback URL (optional)").fill("")
    form.get_by_role("button", name="Create webhook").click()
    note = dialog.get_by_role("region", name="New secret")
    secret = note.locator("code[data-secret]").inner_text()
    assert re.fullmatch(r"whsec_[A-Za-z0-9+/]{43}=", secret), secret
    hook = dialog.locator("li.hook")
    expect(hook).to_have_count(1)
    url = hook.locator("code").first.inner_text()
    example = note.get_by_label("Example request", exact=True).inner_text()
    assert f"curl -X POST '{url}?wait=10'" in example and f"Bearer {secret}" in example
    assert '{"inputs":{"tone":"…","topic":"…"}}' in example
    note.get_by_role("button", name="Copy the secret").click()
    assert page.evaluate("navigator.clipboard.readText()") == secret
    note.get_by_role("button", name="Done").click()
    expect(note).to_have_count(0)

    # Requests arrive: one accepted, one with a wrong secret, one missing the required input.
    accepted = _send(url, secret, {"topic": "Launch"})
    assert accepted.status_code == 202, accepted.text
    run_id = accepted.json()["run_id"]
    assert _send(url, "whsec_" + "A" * 43 + "=", {"topic": "x"}).status_code == 401
    assert _send(url, secret, {"tone": "x"}).status_code == 422

    hook.get_by_role("button", name="Deliveries").click()
    log = page.get_by_role("dialog", name="Deliveries of Signup form")
    rows = log.locator("tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.nth(0)).to_have_attribute("data-outcome", "rejected")
    expect(rows.nth(0)).to_contain_text("topic")  # the reason names the missing input
    expect(rows.nth(1)).to_have_attribute("data-outcome", "rejected")
    expect(rows.nth(1)).to_contain_text("401")
    expect(rows.nth(2)).to_have_attribute("data-outcome", "accepted")
    expect(rows.nth(2)).to_contain_text("202")
    rows.nth(2).get_by_role("button", name="Open").click()
    expect(log).to_have_count(0)
    detail = page.get_by_role("region", name="Run detail")
    expect(detail).to_have_attribute("data-run", run_id)

    # Switched off, the URL answers 404; switched on again, it works.
    page.get_by_role("button", name="Webhooks").click()
    hook = page.get_by_role("dialog", name="Webhooks").locator("li.hook")
    hook.get_by_role("button", name="Turn off").click()
    expect(hook.locator(".badge")).to_have_text("Off")
    assert _send(url, secret, {"topic": "x"}).status_code == 404
    hook.get_by_role("button", name="Turn on").click()
    expect(hook.locator(".badge")).to_have_text("On")

    # Rotating shows the new secret once; the old one keeps working for the grace period.
    hook.get_by_role("button", name="Rotate secret").click()
    note = page.get_by_role("region", name="New secret")
    expect(note).to_contain_text("The previous secret keeps working until")
    rotated = note.locator("code[data-secret]").inner_text()
    assert rotated != secret
    assert _send(url, rotated, {"topic": "new"}).status_code == 202
    assert _send(url, secret, {"topic": "old"}).status_code == 202
    expect(hook).to_contain_text("the previous secret works until")

    # Edit: a bad callback is refused in place, a new name is kept.
    hook.get_by_role("button", name="Edit").click()
    edit = hook.get_by_role("form", name="Edit Signup form")
    edit.get_by_label("Callback URL (optional)").fill("https://169.254.169.254/latest")
    edit.get_by_role("button", name="Save").click()
    expect(page.get_by_role("dialog", name="Webhooks").get_by_role("alert")).to_be_visible()
    edit.get_by_label("Name").fill("Signup form v2")
    edit.get_by_label("Callback URL (optional)").fill("")
    edit.get_by_role("button", name="Save").click()
    expect(hook.locator(".hook-name")).to_have_text("Signup form v2")
    listed = ada.http.get(f"/api/workflows/{workflow_id}/hooks").json()["items"]
    assert [(h["name"], h["callback_url"], h["enabled"]) for h in listed] == [("Signup form v2", "", True)]

    # Delete asks first; afterwards the URL is gone.
    hook.get_by_role("button", name="Delete Signup form v2").click()
    hook.get_by_role("button", name="Keep").click()
    expect(hook).to_have_count(1)
    hook.get_by_role("button", name="Delete Signup form v2").click()
    hook.get_by_role("button", name="Delete", exact=True).click()
    expect(page.get_by_role("dialog", name="Webhooks").get_by_text("No webhooks yet.")).to_be_visible()
    assert _send(url, rotated, {"topic": "x"}).status_code == 404


def test_a_viewer_reads_webhooks_and_their_deliveries_but_changes_nothing(
    pages: Pages, person: Callable[[str], User]
) -> None:
    ada, bob = person("Ada"), person("Bob")
    workflow_id = _workflow_with_inputs(ada)
    made = ada.http.post(f"/api/workflows/{workflow_id}/hooks", json={"name": "CRM"})
    assert made.status_code == 201, made.text
    assert _send(made.json()["url"], made.json()["secret"], {"topic": "x"}).status_code == 202
    ada.share(workflow_id, bob, "viewer")

    page = pages.open(bob)
    open_canvas(page, workflow_id)
    page.get_by_role("button", name="Webhooks").click()
    dialog = page.get_by_role("dialog", name="Webhooks")
    hook = dialog.locator("li.hook")
    expect(hook).to_contain_text("CRM")
    expect(hook).to_contain_text("Made by Ada")
    expect(dialog.get_by_role("form", name="New webhook")).to_have_count(0)
    for action in ("Turn off", "Edit", "Rotate secret", "Delete CRM"):
        expect(hook.get_by_role("button", name=action)).to_have_count(0)
    hook.get_by_role("button", name="Deliveries").click()
    log = page.get_by_role("dialog", name="Deliveries of CRM")
    expect(log.locator("tbody tr")).to_have_count(1)
    expect(log.locator("tbody tr")).to_have_attribute("data-outcome", "accepted")
    log.get_by_role("button", name="← Webhooks").click()
    expect(page.get_by_role("dialog", name="Webhooks")).to_be_visible()
