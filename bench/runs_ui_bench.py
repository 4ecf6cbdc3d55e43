"""Runs on the canvas in a real browser: how long a run event takes to reach the screen, and the
frame time while 100 nodes run in parallel and an LLM node streams 50 tokens a second.

    python -m bench.runs_ui_bench [--runs 3] [--from-editor]   # Postgres and Redis on 127.0.0.1, a fresh static/dist

One `galaxy web`, one `galaxy worker` (test node types from tests/integration/runs_nodes.py), the
OpenAI-compatible test server behind litellm, and Debian's Chromium headless with the frame-rate
limit off (an animation frame takes as long as its work). The worker answers one LLM run first,
so that litellm is imported before the measured run and its stream overlaps the 100 nodes.

In the page, every text frame of the workflow's socket is stamped when it arrives; a
MutationObserver stamps each node's status and streamed-text changes, and the next animation
frame after a change stands for its paint. Every animation frame's start is stamped too: a frame
"draws the run" when a run change happened between its start and the next one's, and its time is
the interval to the next frame (with nothing to draw, headless Chromium still ticks about every
17.7 ms, so frames that draw nothing say little).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Browser, Page, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from bench.editor_bench import ARGS, CHROMIUM, open_page, require_current_build, scratch_settings
from server.settings import PROJECT_ROOT
from tests.fake_llm import Stream, fake_llm
from tests.integration.runs_support import runs_settings, worker_processes
from tests.support import Clients, User, run_server

PARALLEL = 100
TOKENS = 150  # three seconds at 50 a second
MODEL = "openai/bench-model"

# Stamps socket text frames on arrival, run-state changes of the DOM (once per change, at most one
# animation-frame callback per frame for all of them), and the start of every animation frame.
PROBE = """
window.__frames = [];
window.__dom = [];
window.__ticks = [];
const now = () => performance.timeOrigin + performance.now();
const Native = window.WebSocket;
window.WebSocket = class extends Native {
  constructor(...args) {
    super(...args);
    this.addEventListener('message', (e) => {
      if (typeof e.data === 'string') window.__frames.push([now(), e.data]);
    });
  }
};
const pending = [];
const painted = () => {
  const at = now();
  for (const p of pending) window.__dom.push([...p, at]);
  pending.length = 0;
};
const note = (id, kind, value) => {
  if (!pending.length) requestAnimationFrame(painted);
  pending.push([id, kind, value, now()]);
};
const streamed = new Map();
new MutationObserver((mutations) => {
  const touched = new Set();
  for (const m of mutations) {
    const el = m.target.nodeType === 1 ? m.target : m.target.parentElement;
    const node = el && el.closest('.react-flow__node');
    if (!node) continue;
    const id = node.getAttribute('data-id');
    if (m.type === 'attributes') note(id, 'status', el.getAttribute('data-run-status'));
    else touched.add(node);
  }
  for (const node of touched) {
    const out = node.querySelector('.node-output.streaming');
    const id = node.getAttribute('data-id');
    const length = out ? out.textContent.length : 0;
    if (out && streamed.get(id) !== length) { streamed.set(id, length); note(id, 'text', length); }
  }
}).observe(document, { subtree: true, childList: true, characterData: true, attributes: true,
                       attributeFilter: ['data-run-status'] });
let clock = 0;  // the running clock's number; a stopped clock's last callback sees another
window.__startClock = () => {
  const mine = ++clock;
  window.__ticks = [];
  const tick = (t) => {
    if (mine !== clock) return;
    window.__ticks.push(performance.timeOrigin + t);
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
};
window.__stopClock = () => { clock++; return window.__ticks; };
"""


def workflow(size: int) -> dict[str, Any]:
    nodes = [{"id": "t", "type": "text", "position": {"x": 0, "y": 0}, "data": {"text": "go"}}]
    nodes.append({"id": "llm", "type": "llm", "position": {"x": 400, "y": -500},
                  "data": {"user_message": "stream", "model": MODEL}})  # fmt: skip
    edges = []
    for i in range(size):
        nodes.append({"id": f"s{i}", "type": "sleep", "position": {"x": 400 + (i % 10) * 320, "y": (i // 10) * 260},
                      "data": {"seconds": round(1.0 + (i % 20) * 0.1, 2)}})  # fmt: skip
        edges.append({"id": f"e{i}", "source": "t", "sourceHandle": "text", "target": f"s{i}", "targetHandle": "a"})
    return {"format": "galaxy.workflow", "version": 1, "name": "Parallel", "nodes": nodes, "edges": edges}


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * share))], 1)


def summary(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"count": 0}
    return {"count": len(values), "p50_ms": percentile(values, 0.5), "p99_ms": percentile(values, 0.99),
            "max_ms": round(max(values), 1)}  # fmt: skip


def events_of(frames: list[list[Any]]) -> list[tuple[float, dict[str, Any]]]:
    """Each run event with its frame's arrival (a text frame holds one event or an array of them)."""
    out = []
    for arrived, raw in frames:
        value = json.loads(raw)
        out.extend((arrived, event) for event in (value if isinstance(value, list) else [value]))
    return out


def latencies(events: list[tuple[float, dict[str, Any]]], dom: list[list[Any]], start: float) -> dict[str, Any]:
    """For each node_started, node_finished and node_progress event (with its frame's arrival):
    arrival → the DOM showing it (stamped at the next animation frame). `late` lists the
    node_finished and LLM node_progress events shown 50 ms or more after they arrived: the event,
    its arrival in seconds from `start`, and the milliseconds it waited."""
    shown_status: dict[tuple[str, str], float] = {}
    shown_text: dict[str, list[tuple[int, float]]] = {}
    for node, kind, value, _, painted in dom:
        if kind == "status":
            shown_status.setdefault((node, value), painted)
        else:
            shown_text.setdefault(node, []).append((value, painted))
    started: list[float] = []
    finished: list[float] = []
    published: list[float] = []
    progress: list[float] = []
    streamed: dict[str, int] = {}
    late: list[tuple[str, float, float]] = []

    def note_late(kind: str, arrived: float, painted: float) -> None:
        if painted - arrived >= 50:
            late.append((kind, round((arrived - start) / 1000, 3), round(painted - arrived, 1)))

    for arrived, event in events:
        node = event.get("node_id")
        if event["type"] in ("node_started", "node_finished"):
            status = "running" if event["type"] == "node_started" else event["status"]
            painted = shown_status.get((node, status))
            if painted is not None:
                (started if event["type"] == "node_started" else finished).append(painted - arrived)
                if event["type"] == "node_finished":
                    published.append(painted - datetime.fromisoformat(event["at"]).timestamp() * 1000)
                    note_late("node_finished", arrived, painted)
        elif event["type"] == "node_progress" and node == "llm" and event["delta"]:
            streamed[node] = streamed.get(node, 0) + len(event["delta"])
            length = streamed[node]
            painted = next((p for value, p in shown_text.get(node, []) if value >= length), None)
            if painted is not None:
                progress.append(painted - arrived)
                note_late("node_progress", arrived, painted)
    return {"node_started": summary(started), "node_finished": summary(finished),
            "node_progress_llm": summary(progress), "node_finished_from_worker": summary(published),
            "late": late}  # fmt: skip


def frame_times(ticks: list[float], dom: list[list[Any]], start: float, end: float) -> dict[str, Any]:
    """Frames between `start` and `end`: all of them, and those that drew a change of the run."""
    changes = sorted(seen for *_, seen, _ in dom)
    every: list[float] = []
    drawing: list[float] = []
    index = 0
    for begin, finish in itertools.pairwise(ticks):
        while index < len(changes) and changes[index] < begin:
            index += 1
        if begin < start or finish > end:
            continue
        every.append(finish - begin)
        if index < len(changes) and changes[index] < finish:
            drawing.append(finish - begin)

    def stats(values: list[float]) -> dict[str, Any]:
        if not values:
            return {"count": 0}
        return {"count": len(values), "median_ms": round(statistics.median(values), 2),
                "p95_ms": percentile(values, 0.95), "max_ms": round(max(values), 1)}  # fmt: skip

    long = [
        [round((begin - start) / 1000, 3), round(finish - begin, 1)]
        for begin, finish in itertools.pairwise(ticks)
        if start <= begin and finish <= end and finish - begin > 50
    ]
    return {"all": stats(every), "drawing_the_run": stats(drawing), "over_50_ms": len(long), "long_frames": long}


def wait_for_run(http: httpx.Client, run_id: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        run: dict[str, Any] = http.get(f"/api/runs/{run_id}").json()
        if run["status"] not in ("queued", "running") or time.monotonic() > deadline:
            return run
        time.sleep(0.1)


DOM_STATUSES = """() => Object.fromEntries([...document.querySelectorAll('.react-flow__node')]
  .map((n) => [n.dataset.id, n.querySelector('.node')?.getAttribute('data-run-status') ?? null]))"""


def measure(browser: Browser, ada: User, base_url: str, *, from_editor: bool = False) -> dict[str, Any]:
    """One run of the parallel workflow watched by a fresh page; started over the API, or by the
    page's Run all button with `from_editor`."""
    made = ada.http.post("/api/workflows/import", json=workflow(PARALLEL))
    assert made.status_code == 201, made.text
    workflow_id = made.json()["id"]
    page: Page = open_page(browser, base_url, ada)
    page.context.add_init_script(PROBE)
    page.goto(f"/w/{workflow_id}")
    page.wait_for_selector('[data-state="connected"]')
    page.wait_for_function(f"() => document.querySelectorAll('.react-flow__node').length >= {PARALLEL + 2}")
    page.wait_for_timeout(1000)
    # The same canvas with nothing running: what the machine gives a frame anyway.
    page.evaluate("window.__startClock()")
    page.wait_for_timeout(2000)
    idle_ticks: list[float] = page.evaluate("window.__stopClock()")
    idle = [b - a for a, b in itertools.pairwise(idle_ticks)][2:]
    page.evaluate("window.__startClock()")
    started = time.time() * 1000
    if from_editor:
        page.get_by_role("button", name="Run all").click()
        page.wait_for_function("() => window.__frames.some(([, data]) => data.includes('run_started'))")
        run_id = ada.http.get(f"/api/workflows/{workflow_id}/runs?limit=1").json()["items"][0]["id"]
    else:
        response = ada.http.post(f"/api/workflows/{workflow_id}/runs", json={"scope": "full"})
        assert response.status_code == 202, response.text
        run_id = response.json()["id"]
    try:
        page.wait_for_function(
            f"() => document.querySelectorAll('.node[data-run-status=\"success\"]').length >= {PARALLEL + 2}",
            timeout=120_000, polling=250,
        )  # fmt: skip
    except PlaywrightTimeout:
        run = wait_for_run(ada.http, run_id, timeout=5)
        server = {n["node_id"]: n["status"] for n in run["nodes"]}
        shown: dict[str, str | None] = page.evaluate(DOM_STATUSES)
        differ = {k: (shown.get(k), v) for k, v in server.items() if shown.get(k) != v}
        raise SystemExit(f"run {run_id} is {run['status']}; nodes shown differently than the server has them "
                         f"(shown, server): {dict(list(differ.items())[:20])}") from None  # fmt: skip
    ended = time.time() * 1000
    ticks: list[float] = page.evaluate("window.__stopClock()")
    frames: list[list[Any]] = page.evaluate("() => window.__frames")
    dom: list[list[Any]] = page.evaluate("() => window.__dom")
    page.context.close()
    events = events_of(frames)
    llm_progress = [a for a, e in events if e["type"] == "node_progress" and e.get("node_id") == "llm"]
    sleeps_done = max(a for a, e in events if e["type"] == "node_finished" and e.get("node_id", "").startswith("s"))
    return {
        "run_seconds": round((ended - started) / 1000, 2),
        "events_received": len(events),
        "text_frames": len(frames),
        "llm_streaming_s": [round((llm_progress[0] - started) / 1000, 2), round((llm_progress[-1] - started) / 1000, 2)]
        if llm_progress
        else None,
        "sleep_nodes_done_s": round((sleeps_done - started) / 1000, 2),
        "idle_frames": {"count": len(idle), "median_ms": round(statistics.median(idle), 2)},
        "frames_during_run": frame_times(ticks, dom, started, ended),
        "event_to_paint": latencies(events, dom, started),
    }


def warm_up(ada: User) -> None:
    """One LLM run, so that the worker has imported litellm before the measured run."""
    made = ada.http.post("/api/workflows/import", json=workflow(0))
    assert made.status_code == 201, made.text
    started = ada.http.post(f"/api/workflows/{made.json()['id']}/runs", json={"scope": "full"})
    assert started.status_code == 202, started.text
    run = wait_for_run(ada.http, started.json()["id"], timeout=180)
    assert run["status"] == "success", run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="measured runs, each on a fresh workflow and page")
    parser.add_argument("--from-editor", action="store_true", help="start each run with the page's Run all button")
    parser.add_argument("--static-dir", type=Path, default=None, help="serve this editor build instead of static/dist")
    args = parser.parse_args()
    static_dir = args.static_dir or require_current_build(PROJECT_ROOT / "static" / "dist")
    results: dict[str, Any] = {"load_average_before": os.getloadavg(), "runs": []}
    clients = Clients()
    log_dir = Path("/tmp") / f"runs-ui-bench-{os.getpid()}"
    log_dir.mkdir(exist_ok=True)
    node_log = log_dir / "nodes.log"
    node_log.touch()
    with fake_llm() as fake, scratch_settings(static_dir=static_dir) as base:
        fake.default = Stream(tokens=[f" t{i}" for i in range(TOKENS)], delay=1 / 50)
        settings = runs_settings(base, models=(MODEL,), llm_base_url=fake.base_url, worker_max_jobs=PARALLEL + 10)
        with run_server(settings) as url, worker_processes(settings, node_log, 1, log_dir):
            ada = clients.user(url, "Ada")
            warm_up(ada)
            with sync_playwright() as driver:
                browser = driver.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                for _ in range(args.runs):
                    results["runs"].append(measure(browser, ada, url, from_editor=args.from_editor))
                browser.close()
    clients.close()
    results["load_average_after"] = os.getloadavg()
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
