"""Runs on the canvas in a real browser: how long a run event takes to reach the screen, and the
frame time while 100 nodes run in parallel and an LLM node streams 50 tokens a second.

    python -m bench.runs_ui_bench        # needs Postgres and Redis on 127.0.0.1 and static/dist

One `galaxy web`, one `galaxy worker` (test node types from tests/integration/runs_nodes.py), the
OpenAI-compatible test server behind litellm, and Debian's Chromium headless with the frame-rate
limit off (an animation frame takes as long as its work). In the page, every text frame of the
workflow's socket is stamped when it arrives; a MutationObserver stamps each node's status and
streamed-text changes, and the next animation frame after a change stands for its paint.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from playwright.sync_api import sync_playwright

from bench.editor_bench import ARGS, CHROMIUM, open_page, scratch_settings
from tests.fake_llm import Stream, fake_llm
from tests.integration.runs_support import runs_settings, worker_processes
from tests.support import Clients, run_server

PARALLEL = 100
TOKENS = 150  # three seconds at 50 a second
MODEL = "openai/bench-model"

# Stamps socket text frames on arrival, and DOM changes of run state at the next animation frame.
PROBE = """
window.__frames = [];
window.__dom = [];
const Native = window.WebSocket;
window.WebSocket = class extends Native {
  constructor(...args) {
    super(...args);
    this.addEventListener('message', (e) => {
      if (typeof e.data === 'string') window.__frames.push([performance.timeOrigin + performance.now(), e.data]);
    });
  }
};
const record = (id, kind, value) => {
  const seen = performance.timeOrigin + performance.now();
  requestAnimationFrame(() => window.__dom.push([id, kind, value, seen, performance.timeOrigin + performance.now()]));
};
new MutationObserver((mutations) => {
  for (const m of mutations) {
    const el = m.target.nodeType === 1 ? m.target : m.target.parentElement;
    const node = el && el.closest('.react-flow__node');
    if (!node) continue;
    const id = node.getAttribute('data-id');
    if (m.type === 'attributes' && m.attributeName === 'data-run-status')
      record(id, 'status', el.getAttribute('data-run-status'));
    const out = node.querySelector('.node-output.streaming');
    if (out) record(id, 'text', out.textContent.length);
  }
}).observe(document, { subtree: true, childList: true, characterData: true, attributes: true,
                       attributeFilter: ['data-run-status'] });
"""

FRAME_CLOCK = """() => { window.__ticks = []; let last = performance.now();
  const tick = (t) => { window.__ticks.push(t - last); last = t; if (!window.__stop) requestAnimationFrame(tick) };
  requestAnimationFrame(tick) }"""


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


def latencies(frames: list[list[Any]], dom: list[list[Any]]) -> dict[str, Any]:
    """For each node_finished and node_progress frame: arrival → the DOM showing it (+ next frame)."""
    finished: list[float] = []
    published: list[float] = []
    progress: list[float] = []
    streamed: dict[str, int] = {}
    for arrived, raw in frames:
        event = json.loads(raw)
        node = event.get("node_id")
        if event["type"] == "node_finished":
            shown = next((d for d in dom if d[0] == node and d[1] == "status" and d[2] == event["status"]), None)
            if shown:
                finished.append(shown[4] - arrived)
                published.append(shown[4] - datetime.fromisoformat(event["at"]).timestamp() * 1000)
        elif event["type"] == "node_progress" and node == "llm" and event["delta"]:
            streamed[node] = streamed.get(node, 0) + len(event["delta"])
            length = streamed[node]
            shown = next((d for d in dom if d[0] == node and d[1] == "text" and d[2] >= length), None)
            if shown:
                progress.append(shown[4] - arrived)

    def summary(values: list[float]) -> dict[str, Any]:
        return {"count": len(values), "p50_ms": percentile(values, 0.5), "p99_ms": percentile(values, 0.99),
                "max_ms": round(max(values), 1)}  # fmt: skip

    return {"node_finished": summary(finished), "node_progress": summary(progress),
            "node_finished_from_worker": summary(published)}  # fmt: skip


def main() -> None:
    results: dict[str, Any] = {"load_average_before": os.getloadavg()}
    clients = Clients()
    log_dir = Path("/tmp") / f"runs-ui-bench-{os.getpid()}"
    log_dir.mkdir(exist_ok=True)
    node_log = log_dir / "nodes.log"
    node_log.touch()
    with fake_llm() as fake, scratch_settings() as base:
        fake.default = Stream(tokens=[f" t{i}" for i in range(TOKENS)], delay=1 / 50)
        settings = runs_settings(base, models=(MODEL,), llm_base_url=fake.base_url, worker_max_jobs=PARALLEL + 10)
        with run_server(settings) as url, worker_processes(settings, node_log, 1, log_dir):
            ada = clients.user(url, "Ada")
            made = ada.http.post("/api/workflows/import", json=workflow(PARALLEL))
            assert made.status_code == 201, made.text
            workflow_id = made.json()["id"]
            with sync_playwright() as driver:
                browser = driver.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                page = open_page(browser, url, ada)
                page.context.add_init_script(PROBE)
                page.goto(f"/w/{workflow_id}")
                page.wait_for_selector('[data-state="connected"]')
                page.wait_for_function(f"() => document.querySelectorAll('.react-flow__node').length >= {PARALLEL + 2}")
                page.wait_for_timeout(1000)
                # The same canvas with nothing running: what the machine gives a frame anyway.
                page.evaluate(FRAME_CLOCK)
                page.wait_for_timeout(2000)
                idle: list[float] = page.evaluate("() => { window.__stop = true; return window.__ticks.slice(2) }")
                page.evaluate("() => { window.__stop = false }")
                page.evaluate(FRAME_CLOCK)
                started = time.perf_counter()
                response = ada.http.post(f"/api/workflows/{workflow_id}/runs", json={"scope": "full"})
                assert response.status_code == 202, response.text
                page.wait_for_function(
                    "() => document.querySelectorAll('.node[data-run-status=\"success\"]').length >= "
                    f"{PARALLEL + 2}", timeout=120_000,
                )  # fmt: skip
                run_s = time.perf_counter() - started
                ticks: list[float] = page.evaluate("() => { window.__stop = true; return window.__ticks.slice(2) }")
                frames: list[list[Any]] = page.evaluate("() => window.__frames")
                dom: list[list[Any]] = page.evaluate("() => window.__dom")
                browser.close()
    clients.close()
    results["run_seconds"] = round(run_s, 2)
    results["events_received"] = len(frames)
    results["frames"] = {"count": len(ticks), "median_ms": round(statistics.median(ticks), 2),
                         "p95_ms": percentile(ticks, 0.95), "max_ms": round(max(ticks), 1)}  # fmt: skip
    results["idle_frames"] = {"count": len(idle), "median_ms": round(statistics.median(idle), 2),
                              "p95_ms": percentile(idle, 0.95)}  # fmt: skip
    results["event_to_paint"] = latencies(frames, dom)
    results["load_average_after"] = os.getloadavg()
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
