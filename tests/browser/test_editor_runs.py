"""Runs on the canvas: a real server, a real `galaxy worker` and an OpenAI-compatible server on
127.0.0.1 behind litellm; people start runs in the browser and watch them live."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import APIResponse, Page, Route, expect

from server.settings import Settings
from tests.browser.conftest import ARTIFACTS, Pages
from tests.browser.editor import SocketSwitch, edge_json, import_workflow, node, node_json, open_canvas
from tests.fake_llm import FakeLLM, Stream, fake_llm
from tests.integration.runs_support import runs_settings, start_run, wait_for_run, worker_processes
from tests.support import Clients, User, run_server

MODEL = "openai/kit-model"
KIT_NODES = ["upload-image", "crop", "details", "copywriter", "upload-video", "frame", "social"]
RUN_READ = re.compile(r"/api/runs/[0-9a-f-]{36}$")


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeLLM]:
    with fake_llm() as server:
        server.default = Stream(delay=0.06)  # echo the user message, word by word
        yield server


@pytest.fixture(scope="module")
def runs_url(settings: Settings, fake: FakeLLM, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    run_settings = runs_settings(
        settings, redis_namespace=settings.redis_namespace + "-ui", models=(MODEL,), llm_base_url=fake.base_url
    )
    log_dir = tmp_path_factory.mktemp("runs-ui")
    node_log = Path(log_dir / "nodes.log")
    node_log.touch()
    with run_server(run_settings) as url, worker_processes(run_settings, node_log, 1, log_dir):
        yield url


@pytest.fixture
def someone(clients: Clients, runs_url: str) -> Callable[[str], User]:
    return lambda name: clients.user(runs_url, name)


# Records every text the Copywriter's streaming output shows, as it changes.
WATCH_STREAM = """() => {
  window.streamed = []
  new MutationObserver(() => {
    const el = document.querySelector('.react-flow__node[data-id="copywriter"] .node-output.streaming')
    const text = el ? el.textContent : ''
    if (text && window.streamed[window.streamed.length - 1] !== text) window.streamed.push(text)
  }).observe(document.body, { subtree: true, childList: true, characterData: true })
}"""


# The same, installed before the page loads, for the node "llm".
WATCH_LLM_STREAM = """
window.streamed = []
new MutationObserver(() => {
  const el = document.querySelector('.react-flow__node[data-id="llm"] .node-output.streaming')
  const text = el ? el.textContent : ''
  if (text && window.streamed[window.streamed.length - 1] !== text) window.streamed.push(text)
}).observe(document, { subtree: true, childList: true, characterData: true })
"""


THUMBNAILS_LOADED = """() => [...document.querySelectorAll('.run-detail video')].every((v) => v.readyState >= 2)
  && [...document.querySelectorAll('.run-detail img')].every((i) => i.complete && i.naturalWidth > 0)"""


def status_of(page: Page, node_id: str) -> str | None:
    return node(page, node_id).locator(".node").get_attribute("data-run-status")


def expect_status(page: Page, node_id: str, status: str, timeout: float = 20_000) -> None:
    expect(node(page, node_id).locator(".node")).to_have_attribute("data-run-status", status, timeout=timeout)


def open_runs(page: Page) -> None:
    page.get_by_role("button", name="History").click()
    expect(page.get_by_role("list", name="Run history")).to_be_visible()


@pytest.mark.timeout(120)
def test_the_kit_runs_live_on_every_canvas(pages: Pages, someone: Callable[[str], User], runs_url: str) -> None:
    ada, bob = someone("Ada"), someone("Bob")
    workflow_id = ada.create_workflow(template="marketing-kit")["id"]
    ada.share(workflow_id, bob, "viewer")
    page_a = pages.open(ada, base_url=runs_url)
    page_b = pages.open(bob, base_url=runs_url)
    open_canvas(page_a, workflow_id)
    open_canvas(page_b, workflow_id)

    # The viewer sees why he cannot run it.
    run_all_b = page_b.get_by_role("button", name="Run all")
    expect(run_all_b).to_be_disabled()
    expect(run_all_b).to_have_attribute("title", "Viewers cannot start runs")

    for page in (page_a, page_b):
        page.evaluate(WATCH_STREAM)
    page_a.get_by_role("button", name="Run all").click()
    # Both canvases glow while nodes run, and the answer grows on the node before the run ends.
    for page in (page_a, page_b):
        expect(page.locator('.node[data-run-status="running"]').first).to_be_visible(timeout=20_000)
    # Watched on every animation frame: a poll from here could miss a short stream.
    page_b.wait_for_function("() => window.streamed.length >= 2", polling="raf", timeout=30_000)
    page_a.screenshot(path=str(pages_dir() / "runs-kit-running.png"))

    for page in (page_a, page_b):
        for node_id in KIT_NODES:
            expect_status(page, node_id, "success", timeout=60_000)
        expect(node(page, "social").locator(".node-output")).to_contain_text("Echo: Echo: Product: Aurora")
        expect(node(page, "crop").get_by_role("img", name="Output image")).to_be_visible()
        expect(node(page, "frame").get_by_role("img", name="Output image")).to_be_visible()
        done_in = re.compile(r"Done in [\d.]+ (ms|s)")
        expect(node(page, "copywriter").locator(".run-badge")).to_have_attribute("title", done_in)
    page_a.screenshot(path=str(pages_dir() / "runs-kit-done.png"))
    for page in (page_a, page_b):
        seen: list[str] = page.evaluate("window.streamed")
        assert len(seen) >= 3 and all(seen[i] in seen[i + 1] for i in range(len(seen) - 1)), seen
        assert seen[0].startswith("Echo:") and status_of(page, "copywriter") == "success"

    # The history shows the run with each node's detail, for the viewer too.
    open_runs(page_b)
    entry = page_b.locator(".run-list li[data-run]").first
    expect(entry).to_have_attribute("data-status", "success")
    expect(entry).to_contain_text("Editor · Ada · Full")
    entry.locator("button").click()
    detail = page_b.get_by_role("region", name="Run detail")
    expect(detail.locator(".run-node")).to_have_count(len(KIT_NODES))
    social = detail.locator('.run-node[data-node="social"]')
    expect(social).to_contain_text("Tokens")
    expect(social).to_contain_text("Echo: Echo: Product: Aurora")
    expect(detail.get_by_role("img", name="Output of Crop (center 80%)")).to_be_visible()
    expect(detail.get_by_role("img", name="Output of Frame at 50%")).to_be_visible()
    # A video (the upload's output, the frame's input) shows its first frame; no thumbnail is broken.
    expect(detail.locator('.run-node[data-node="upload-video"] video')).to_be_visible()
    expect(detail.locator('.run-node[data-node="frame"] video')).to_be_visible()
    page_b.wait_for_function(THUMBNAILS_LOADED, timeout=20_000)
    expect(detail.get_by_role("button", name="Re-run")).to_have_count(0)
    page_b.screenshot(path=str(pages_dir() / "runs-kit-detail.png"))
    social.get_by_role("button", name="Social media post").click()
    expect(node(page_b, "social")).to_have_class(re.compile(r"\bselected\b"))


def pages_dir() -> Path:
    """Where the screenshots of the run states go (to look at, as a designer would)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


def chain(user: User, *, seconds: float = 0.2, fail: bool = False) -> str:
    """text → first (sleep) → second (sleep or fail); and text → side (sleep)."""
    return import_workflow(
        user,
        "Chain",
        [
            node_json("t", "text", 0, 0, label="Start", text="go"),
            node_json("first", "sleep", 380, 0, label="First", seconds=seconds),
            node_json("second", "fail", 760, 0, label="Second")
            if fail
            else node_json("second", "sleep", 760, 0, label="Second", seconds=seconds),
            node_json("side", "sleep", 380, 300, label="Side", seconds=seconds),
        ],
        [
            edge_json("t", "text", "first", "a"),
            edge_json("first", "out", "second", "a"),
            edge_json("t", "text", "side", "a"),
        ],
    )


def test_a_failed_node_shows_its_message_and_the_others_stay_green(
    pages: Pages, someone: Callable[[str], User], runs_url: str
) -> None:
    ada = someone("Ada")
    workflow_id = chain(ada, fail=True)
    page = pages.open(ada, base_url=runs_url)
    open_canvas(page, workflow_id)
    page.get_by_role("button", name="Run all").click()
    expect_status(page, "second", "failed")
    expect(node(page, "second").locator(".node-output.error")).to_have_text("Node second failed on purpose.")
    expect(node(page, "second").locator(".run-badge")).to_have_attribute("title", "test failure")
    for node_id in ("t", "first", "side"):
        expect_status(page, node_id, "success")
    open_runs(page)
    entry = page.locator(".run-list li[data-run]").first
    expect(entry).to_have_attribute("data-status", re.compile("failed|partial"))
    entry.locator("button").click()
    detail = page.get_by_role("region", name="Run detail")
    expect(detail.locator('.run-node[data-node="first"]')).to_have_attribute("data-status", "success")
    expect(detail.locator('.run-node[data-node="second"] .error')).to_have_text("Node second failed on purpose.")
    page.screenshot(path=str(pages_dir() / "runs-failed.png"))


def test_run_one_node_then_a_selection(pages: Pages, someone: Callable[[str], User], runs_url: str) -> None:
    ada = someone("Ada")
    workflow_id = chain(ada, seconds=0.1)
    page = pages.open(ada, base_url=runs_url)
    open_canvas(page, workflow_id)
    page.get_by_role("button", name="Run all").click()
    expect_status(page, "second", "success")

    page.get_by_role("button", name="Node menu: Second").click()
    page.get_by_role("menuitem", name="Run node").click()
    open_runs(page)
    expect(page.locator(".run-list li[data-run]")).to_have_count(2)
    expect(page.locator(".run-list li[data-run]").first).to_contain_text("Single node")
    expect(page.locator(".run-list li[data-run]").first).to_have_attribute("data-status", "success")
    expect_status(page, "first", "cached")
    expect_status(page, "second", "success")

    # The full run, shown on the canvas instead of the live one, and back.
    page.locator(".run-list li[data-run]").last.locator("button").click()
    page.get_by_role("button", name="View this run").click()
    expect(page.locator(".viewing-banner")).to_be_visible()
    expect_status(page, "first", "success")
    page.locator(".viewing-banner").get_by_role("button", name="Back to live").click()
    expect_status(page, "first", "cached")
    page.get_by_role("button", name="← Runs").click()

    node(page, "side").locator(".node-title").click()
    run_selected = page.get_by_role("button", name="Run selected (1)")
    expect(run_selected).to_be_enabled()
    run_selected.click()
    expect(page.locator(".run-list li[data-run]")).to_have_count(3)
    expect(page.locator(".run-list li[data-run]").first).to_contain_text("Selected")
    expect(page.locator(".run-list li[data-run]").first).to_have_attribute("data-status", "success")


def test_rerun_repeats_the_scope_and_the_nodes(pages: Pages, someone: Callable[[str], User], runs_url: str) -> None:
    ada = someone("Ada")
    workflow_id = chain(ada, seconds=0.1)
    page = pages.open(ada, base_url=runs_url)
    open_canvas(page, workflow_id)
    node(page, "side").locator(".node-title").click()
    page.get_by_role("button", name="Run selected (1)").click()
    open_runs(page)
    runs = page.locator(".run-list li[data-run]")
    expect(runs.first).to_have_attribute("data-status", "success")
    first_id = runs.first.get_attribute("data-run")
    runs.first.locator("button").click()
    page.get_by_role("button", name="Re-run").click()
    page.get_by_role("button", name="← Runs").click()
    expect(runs).to_have_count(2)
    expect(runs.first).to_contain_text("Selected")
    expect(runs.first).to_have_attribute("data-status", "success")
    again = ada.http.get(f"/api/runs/{runs.first.get_attribute('data-run')}").json()
    assert again["id"] != first_id and again["scope"] == "selected" and again["node_ids"] == ["side"]
    assert [n["node_id"] for n in again["nodes"] if n["status"] == "success"] == ["side"]


def test_the_history_loads_older_runs_as_it_is_scrolled(
    pages: Pages, someone: Callable[[str], User], runs_url: str
) -> None:
    ada = someone("Ada")
    workflow_id = import_workflow(ada, "Many runs", [node_json("t", "text", 0, 0, text="go")], [])
    ids = [start_run(ada.http, workflow_id)["id"] for _ in range(45)]  # pages of 20: 20, 20, 5
    for run_id in ids:
        wait_for_run(ada.http, run_id)
    page = pages.open(ada, base_url=runs_url)
    open_canvas(page, workflow_id)
    open_runs(page)
    runs = page.locator(".run-list li[data-run]")
    more = page.locator(".run-list li:not([data-run])")
    expect(runs).to_have_count(20)
    for shown in (40, 45):
        more.scroll_into_view_if_needed()
        expect(runs).to_have_count(shown)
    expect(more).to_have_count(0)
    assert [runs.nth(i).get_attribute("data-run") for i in range(45)] == ids[::-1]  # newest first, each once


def test_a_run_counts_as_under_way_from_the_click_to_its_end(
    pages: Pages, someone: Callable[[str], User], runs_url: str
) -> None:
    """The canvas is marked running (its nodes get layers of their own) from the moment the editor
    asks for a run; a refused request takes the mark away at once, and the run's end does (once
    its last changes are drawn, within LINGER_MS of static/src/editor/runStore.ts)."""
    ada = someone("Ada")
    workflow_id = chain(ada, seconds=0.5)
    page = pages.open(ada, base_url=runs_url)
    open_canvas(page, workflow_id)
    canvas = page.locator(".canvas")
    expect(canvas).not_to_have_attribute("data-running", "")
    page.wait_for_timeout(600)  # a small canvas keeps its nodes on the canvas's layer when idle
    expect(canvas).not_to_have_attribute("data-layered", "")

    def refuse(route: Route) -> None:
        if route.request.method != "POST":
            route.continue_()
            return
        problem = {"title": "Too many runs", "status": 429, "detail": "2 runs in progress"}
        route.fulfill(status=429, json=problem, headers={"content-type": "application/problem+json"})

    page.route(f"**/api/workflows/{workflow_id}/runs", refuse)
    page.get_by_role("button", name="Run all").click()
    expect(page.get_by_text("Too many runs: 2 runs in progress")).to_be_visible()
    expect(canvas).not_to_have_attribute("data-running", "")
    page.unroute(f"**/api/workflows/{workflow_id}/runs")

    page.get_by_role("button", name="Run all").click()
    expect(canvas).to_have_attribute("data-running", "")
    expect_status(page, "second", "success")
    expect(canvas).not_to_have_attribute("data-running", "")


def test_cancel_and_reload_during_a_run(pages: Pages, someone: Callable[[str], User], runs_url: str) -> None:
    ada = someone("Ada")
    workflow_id = chain(ada, seconds=30)
    page = pages.open(ada, base_url=runs_url)
    open_canvas(page, workflow_id)
    page.get_by_role("button", name="Run all").click()
    expect_status(page, "first", "running")
    expect_status(page, "second", "pending")

    # A reload in the middle of the run reads it back.
    page.reload()
    expect_status(page, "first", "running")
    expect_status(page, "side", "running")
    expect_status(page, "second", "pending")
    expect_status(page, "t", "success")

    page.get_by_role("button", name="Cancel run").click()
    expect_status(page, "first", "cancelled")
    expect(page.get_by_role("button", name="Cancel run")).to_have_count(0)
    open_runs(page)
    expect(page.locator(".run-list li[data-run]").first).to_have_attribute("data-status", "cancelled")


def test_a_slow_read_of_the_run_does_not_undo_what_arrived_meanwhile(
    pages: Pages, someone: Callable[[str], User], runs_url: str
) -> None:
    ada = someone("Ada")
    workflow_id = chain(ada, seconds=1)
    page = pages.open(ada, base_url=runs_url)
    switch = SocketSwitch(page)
    open_canvas(page, workflow_id)
    held: list[tuple[Route, APIResponse]] = []

    def answer_late(route: Route) -> None:
        # What the server says at once, handed to the page only later.
        held.append((route, route.fetch()))

    run = start_run(ada.http, workflow_id)
    expect_status(page, "first", "running")
    page.route(RUN_READ, answer_late)
    switch.drop()  # the editor reconnects at once and reads the run again
    for _ in range(100):  # Playwright calls the handler while it waits
        if held:
            break
        page.wait_for_timeout(100)
    assert held, "the editor did not read the run again after the reconnect"
    assert wait_for_run(ada.http, run["id"])["status"] == "success"
    # The rest of the run arrives over the socket while the read is held back.
    for node_id in ("t", "first", "second", "side"):
        expect_status(page, node_id, "success")
    for route, response in held:
        route.fulfill(response=response)
    page.unroute(RUN_READ)
    page.wait_for_timeout(500)
    for node_id in ("t", "first", "second", "side"):
        expect_status(page, node_id, "success", timeout=1000)


def test_a_reload_mid_stream_shows_the_answer_from_its_first_word(
    pages: Pages, someone: Callable[[str], User], runs_url: str
) -> None:
    ada = someone("Ada")
    words = " ".join(f"w{i}" for i in range(90))  # echoed one word per 60 ms: about five seconds
    workflow_id = import_workflow(
        ada,
        "Stream",
        [node_json("ask", "text", 0, 0, text=words), node_json("llm", "llm", 400, 0, label="Writer", model=MODEL)],
        [edge_json("ask", "text", "llm", "user_message")],
    )
    page = pages.open(ada, base_url=runs_url)
    open_canvas(page, workflow_id)
    page.get_by_role("button", name="Run all").click()
    streaming = node(page, "llm").locator(".node-output.streaming")
    expect(streaming).to_contain_text("w5 ", timeout=30_000)  # the first LLM call imports litellm
    page.context.add_init_script(WATCH_LLM_STREAM)
    page.reload()
    page.wait_for_function("() => window.streamed && window.streamed.length > 0", polling="raf", timeout=20_000)
    first: str = page.evaluate("window.streamed[0]")
    assert first.startswith("Echo: w0 w1 w2 w3 w4 w5"), first  # not from the next token on
    expect_status(page, "llm", "success", timeout=30_000)
    expect(node(page, "llm").locator(".node-output")).to_have_text(f"Echo: {words}")


def test_a_reconnect_catches_up_with_what_was_missed(
    pages: Pages, someone: Callable[[str], User], runs_url: str
) -> None:
    ada = someone("Ada")
    workflow_id = chain(ada, seconds=1)
    page = pages.open(ada, base_url=runs_url)
    switch = SocketSwitch(page)
    open_canvas(page, workflow_id)
    run = start_run(ada.http, workflow_id)
    expect_status(page, "first", "running")
    switch.cut()
    assert wait_for_run(ada.http, run["id"])["status"] == "success"
    assert status_of(page, "second") in {"pending", "running"}  # the end of the run was missed
    switch.restore()
    for node_id in ("t", "first", "second", "side"):
        expect_status(page, node_id, "success")
