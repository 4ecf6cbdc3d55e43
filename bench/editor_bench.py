"""The editor in a real browser: render time of a 500-node workflow, frame time while panning,
React renders while dragging one node, browser-to-browser move latency (one web process and two
on one Redis), bundle sizes and the code split.

    python -m bench.editor_bench            # needs Postgres and Redis on 127.0.0.1 and static/dist

Debian's Chromium runs headless with the frame-rate limit off, so an animation frame takes as
long as its work does (rather than waiting for a 60 Hz vsync).
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import os
import secrets
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import redis
from playwright.sync_api import Browser, Page, sync_playwright

from server.settings import PROJECT_ROOT, Settings, load_settings
from tests.support import Clients, User, admin_sql, run_server

ADMIN_URL = os.environ.get("BENCH_POSTGRES_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-frame-rate-limit",
        "--disable-gpu-vsync"]  # fmt: skip
MOVES = 200
DRAG_STEPS = 60

# Counts, per React commit, the node components that rendered (React DevTools' own test: a
# fiber whose subtree was not cloned did not render; a cloned one rendered if PerformedWork).
REACT_PROBE = """
window.__renders = [];
window.__REACT_DEVTOOLS_GLOBAL_HOOK__ = {
  supportsFiber: true, isDisabled: false, renderers: new Map(),
  inject() { return 1 }, checkDCE() {}, onCommitFiberUnmount() {}, onPostCommitFiberRoot() {},
  onScheduleFiberRoot() {},
  onCommitFiberRoot(_id, root) {
    const rendered = new Set();
    const walk = (fiber) => {
      for (; fiber; fiber = fiber.sibling) {
        const name = (fiber.type && fiber.type.displayName) || '';
        const fresh = fiber.alternate === null || (fiber.flags & 1) === 1;
        if (name.startsWith('Node(') && fresh) rendered.add(fiber.memoizedProps && fiber.memoizedProps.id);
        if (fiber.child && !(fiber.alternate && fiber.alternate.child === fiber.child)) walk(fiber.child);
      }
    };
    walk(root.current);
    if (window.__counting) window.__renders.push([...rendered]);
  },
};
"""


def big_workflow(nodes: int = 500, edges: int = 700) -> dict[str, Any]:
    """A valid DAG of text, upload, LLM and crop nodes with exactly `edges` connections."""
    kinds = ["text", "upload_image", "llm", "crop_image"]
    node_list = [
        {"id": f"n{i}", "type": kinds[i % 4], "position": {"x": (i % 25) * 340, "y": (i // 25) * 420}, "data": {}}
        for i in range(nodes)
    ]
    candidates: list[tuple[int, str, int, str]] = []
    for i in range(nodes):
        if i % 4 == 2:  # llm
            candidates.append((i - 2, "text", i, "system_prompt"))
            candidates.append((i - 4 if i >= 4 else i - 2, "output" if i >= 4 else "text", i, "user_message"))
            candidates.append((i - 1, "image", i, "images"))
            if i >= 3:
                candidates.append((i - 3, "output", i, "images"))
            if i >= 5:
                candidates.append((i - 5, "image", i, "images"))
        elif i % 4 == 3:  # crop
            candidates.append((i - 2, "image", i, "image_url"))
    chosen = candidates[:edges]
    assert len(chosen) == edges, len(candidates)
    edge_list = [
        {"id": f"e{k}", "source": f"n{s}", "sourceHandle": sh, "target": f"n{t}", "targetHandle": th}
        for k, (s, sh, t, th) in enumerate(chosen)
    ]
    return {"format": "galaxy.workflow", "version": 1, "name": "Big", "nodes": node_list, "edges": edge_list}


def open_page(browser: Browser, base_url: str, user: User, *, probe: bool = False) -> Page:
    context = browser.new_context(base_url=base_url, viewport={"width": 1440, "height": 900})
    context.add_cookies([{"name": k, "value": v, "url": base_url} for k, v in user.http.cookies.items()])
    if probe:
        context.add_init_script(REACT_PROBE)
    return context.new_page()


ALL_SHOWN = (
    "() => [...document.querySelectorAll('.react-flow__node')].filter(n => n.style.visibility !== 'hidden')"
    ".length >= 500"
)


def render_time(browser: Browser, base_url: str, user: User, workflow_id: str) -> float:
    """Milliseconds from navigation start to all 500 nodes measured and shown."""
    page = open_page(browser, base_url, user)
    page.goto("/")
    page.wait_for_selector(".wf, .empty")
    page.evaluate("() => performance.mark('go')")
    started = time.perf_counter()
    page.goto(f"/w/{workflow_id}")
    page.wait_for_function(ALL_SHOWN, polling="raf", timeout=60_000)
    elapsed = page.evaluate("() => performance.now()")
    wall = (time.perf_counter() - started) * 1000
    page.context.close()
    return float(min(elapsed, wall))


PAN_MOVES = 120

# Every animation frame's interval, and whether the viewport moved in the frame it measures. A
# requestAnimationFrame callback runs before the frame's style, layout and paint, so the interval
# that ends at tick N is the work of the frame that started at tick N - 1: it is a "moving" frame
# when the transform seen at N - 1 was new. With nothing to draw, headless Chromium still ticks
# about every 17.7 ms, so frames without a move say nothing about the canvas.
PAN_PROBE = """() => { window.__frames = []; const vp = document.querySelector('.react-flow__viewport');
  let last = performance.now(), seen = vp.style.transform, moved = false;
  const tick = (t) => { window.__frames.push([t - last, moved]); const now = vp.style.transform;
    moved = now !== seen; seen = now; last = t; if (window.__panning) requestAnimationFrame(tick) };
  window.__panning = true; requestAnimationFrame(tick) }"""


def pan_frames(page: Page) -> dict[str, Any]:
    """Frame intervals while the pane is dragged across the canvas by PAN_MOVES pointer moves."""
    page.evaluate(PAN_PROBE)
    # A spot of bare canvas near the right (a press on a node would drag the node instead).
    spot = page.evaluate(
        """() => { const box = document.querySelector('.react-flow__pane').getBoundingClientRect();
        for (let dy = 0; dy < box.height / 2; dy += 4) for (const sign of [1, -1]) {
          const x = box.left + box.width * 0.8, y = box.top + box.height / 2 + sign * dy;
          if (document.elementFromPoint(x, y)?.classList.contains('react-flow__pane')) return [x, y] }
        return null }"""
    )
    assert spot, "no bare canvas to grab"
    x, y = spot
    page.mouse.move(x, y)
    page.mouse.down()
    started = time.perf_counter()
    for step in range(PAN_MOVES):
        page.mouse.move(x - step * 6, y - (step % 20) * 2)
    page.mouse.up()
    elapsed = time.perf_counter() - started
    frames: list[list[Any]] = page.evaluate("() => { window.__panning = false; return window.__frames.slice(2) }")
    moved = [ms for ms, changed in frames if changed]
    every = [ms for ms, _ in frames]
    return {
        "moves": PAN_MOVES,
        "ms_per_move": round(elapsed * 1000 / PAN_MOVES, 1),
        "moving_frames": len(moved),
        "moving_median_ms": round(statistics.median(moved), 2) if moved else None,
        "moving_p95_ms": round(sorted(moved)[int(len(moved) * 0.95)], 2) if moved else None,
        "all_frames": len(every),
        "all_median_ms": round(statistics.median(every), 2),
        "all_p95_ms": round(sorted(every)[int(len(every) * 0.95)], 2),
    }


# The same pan driven from inside the page: a pointer move at the start of every animation frame
# (synthetic mouse events, which d3-zoom handles like real ones), so every frame has something to
# draw and lasts as long as its work. It leaves out the browser's input path (hit testing).
PAN_IN_PAGE = """(moves) => new Promise((done) => {
  const pane = document.querySelector('.react-flow__pane');
  const box = pane.getBoundingClientRect();
  let x = box.left + box.width * 0.8, y = box.top + box.height / 2;
  for (let dy = 0; !document.elementFromPoint(x, y + dy)?.classList.contains('react-flow__pane'); dy += 4) {
    if (dy > box.height / 2) return done(null);
    if (document.elementFromPoint(x, y - dy)?.classList.contains('react-flow__pane')) { y -= dy; break; }
  }
  const at = (i) => ({ bubbles: true, cancelable: true, view: window, button: 0, buttons: 1,
                       clientX: x - i * 6, clientY: y - (i % 20) * 2 });
  pane.dispatchEvent(new MouseEvent('mousedown', at(0)));
  const frames = []; let last = performance.now(), i = 0;
  const tick = (t) => {
    frames.push(t - last); last = t;
    if (++i > moves) { window.dispatchEvent(new MouseEvent('mouseup', at(i))); done(frames.slice(2)); return; }
    window.dispatchEvent(new MouseEvent('mousemove', at(i)));
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
})"""


def pan_in_page(page: Page) -> dict[str, Any]:
    """Frame times of a pan with a pointer move in every frame (see PAN_IN_PAGE)."""
    frames: list[float] | None = page.evaluate(PAN_IN_PAGE, PAN_MOVES)
    assert frames, "no bare canvas to grab"
    return {"frames": len(frames), "median_ms": round(statistics.median(frames), 2),
            "p95_ms": round(sorted(frames)[int(len(frames) * 0.95)], 2)}  # fmt: skip


def drag_renders(page: Page) -> dict[str, Any]:
    """React commits while one node is dragged, and which node components rendered in them."""
    page.locator(".react-flow__controls-fitview").click()
    page.wait_for_timeout(500)
    head = page.locator('.react-flow__node[data-id="n0"] .node-head')
    box = head.bounding_box()
    assert box
    x, y = box["x"] + box["width"] / 3, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.evaluate("() => { window.__renders = []; window.__counting = true }")
    page.mouse.down()
    for step in range(DRAG_STEPS):
        page.mouse.move(x + step * 3, y + step)
    page.mouse.up()
    page.wait_for_timeout(300)
    commits: list[list[str]] = page.evaluate("() => { window.__counting = false; return window.__renders }")
    distinct = sorted({node for commit in commits for node in commit})
    return {"pointer_moves": DRAG_STEPS, "commits": len(commits),
            "max_nodes_rendered_in_a_commit": max(map(len, commits), default=0),
            "distinct_nodes_rendered": distinct}  # fmt: skip


MOVE_PROBE = """
(id) => {
  window.__seen = [];
  const node = document.querySelector(`.react-flow__node[data-id="${id}"]`);
  new MutationObserver(() => window.__seen.push([performance.timeOrigin + performance.now(), node.style.transform]))
    .observe(node, { attributes: true, attributeFilter: ['style'] });
}
"""


def move_latency(
    browser: Browser, url_a: str, url_b: str, user_a: User, user_b: User, workflow_id: str
) -> dict[str, Any]:
    """A drags a node in MOVES steps; for each position, when B shows it minus when A showed it."""
    page_a, page_b = open_page(browser, url_a, user_a), open_page(browser, url_b, user_b)
    for page in (page_a, page_b):
        page.goto(f"/w/{workflow_id}")
        page.wait_for_selector('[data-state="connected"]')
        page.wait_for_selector('.react-flow__node[data-id="mover"]')
        page.wait_for_timeout(500)
        page.evaluate(MOVE_PROBE, "mover")
    box = page_a.locator('.react-flow__node[data-id="mover"] .node-head').bounding_box()
    assert box
    x, y = box["x"] + 40, box["y"] + box["height"] / 2
    page_a.mouse.move(x, y)
    page_a.mouse.down()
    for step in range(1, MOVES + 1):
        page_a.mouse.move(x + (step % 100) * 2, y + (step // 100) * 40)
        page_a.wait_for_timeout(25)
    page_a.mouse.up()
    page_a.wait_for_timeout(1000)
    seen_a: list[list[Any]] = page_a.evaluate("() => window.__seen")
    seen_b: list[list[Any]] = page_b.evaluate("() => window.__seen")
    first_a: dict[str, float] = {}
    for stamp, transform in seen_a:
        first_a.setdefault(transform, stamp)
    first_b: dict[str, float] = {}
    for stamp, transform in seen_b:
        first_b.setdefault(transform, stamp)
    latencies = sorted(first_b[t] - first_a[t] for t in first_a if t in first_b)
    page_a.context.close()
    page_b.context.close()
    return {
        "positions_shown_by_a": len(first_a),
        "positions_seen_by_b": len(latencies),
        "p50_ms": round(statistics.median(latencies), 1),
        "p99_ms": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))], 1),
        "max_ms": round(latencies[-1], 1),
    }


def require_current_build(static_dir: Path) -> Path:
    """`static_dir` if it holds a build of the editor's current sources; otherwise exit saying
    so (a browser measurement of a stale build measures old code)."""
    index = static_dir / "index.html"
    if not index.exists():
        raise SystemExit(f"No editor build in {static_dir}: run `cd static && npm run build` first.")
    built = index.stat().st_mtime
    static = PROJECT_ROOT / "static"
    sources = [*(static / "src").rglob("*"), *(static / name for name in ("index.html", "package-lock.json"))]
    newer = sorted(str(p.relative_to(static)) for p in sources if p.is_file() and p.stat().st_mtime > built)
    if newer:
        raise SystemExit(
            f"The editor build in {static_dir} is older than {len(newer)} of its sources ({', '.join(newer[:3])}"
            f"{', …' if len(newer) > 3 else ''}): run `cd static && npm run build` first."
        )
    return static_dir


def bundle_sizes(static_dir: Path) -> dict[str, Any]:
    sizes: dict[str, Any] = {}
    for path in sorted((static_dir / "assets").iterdir()):
        data = path.read_bytes()
        sizes[path.name] = {"bytes": len(data), "gzip_bytes": len(gzip.compress(data, 9))}
    return sizes


def sign_in_page_scripts(browser: Browser, base_url: str) -> list[str]:
    """The scripts the sign-in page loads (the canvas chunk must not be one of them)."""
    context = browser.new_context(base_url=base_url)
    page = context.new_page()
    loaded: list[str] = []
    page.on("request", lambda request: request.resource_type == "script" and loaded.append(Path(request.url).name))
    page.goto("/")
    page.wait_for_selector("form")
    context.close()
    return loaded


@contextlib.contextmanager
def scratch_settings(**overrides: Any) -> Iterator[Settings]:
    tag = secrets.token_hex(4)
    database = f"galaxy_bench_{tag}"
    admin_sql(ADMIN_URL, f'CREATE DATABASE "{database}"')
    database_url = ADMIN_URL.rsplit("/", 1)[0] + f"/{database}"
    settings = load_settings({}, database_url=database_url, redis_url=REDIS_URL, secret_key=secrets.token_hex(32),
                             redis_namespace=f"bench-{tag}", log_level="WARNING", log_json=False,
                             max_import_bytes=16 * 1024 * 1024, max_request_bytes=16 * 1024 * 1024,
                             **overrides)  # fmt: skip
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": REDIS_URL, "SECRET_KEY": settings.secret_key}
    subprocess.run([sys.executable, "-m", "server.cli", "migrate"], env=env, cwd=PROJECT_ROOT, check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip
    try:
        yield settings
    finally:
        admin_sql(ADMIN_URL, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        client = redis.Redis.from_url(REDIS_URL)
        for key in client.scan_iter(match=f"bench-{tag}*", count=1000):
            client.delete(key)
        client.close()


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="render,pan,drag,moves", help="comma-separated parts to run")
    parser.add_argument("--loads", type=int, default=3, help="page loads timed for the render")
    parser.add_argument("--pans", type=int, default=1, help="pans measured, each on a fresh page")
    parser.add_argument("--static-dir", type=Path, default=None, help="serve this editor build instead of static/dist")
    return parser.parse_args()


def main() -> None:
    args = arguments()
    parts = set(args.only.split(","))
    static_dir = args.static_dir or require_current_build(PROJECT_ROOT / "static" / "dist")
    results: dict[str, Any] = {"load_average_before": os.getloadavg(), "bundle": bundle_sizes(static_dir)}
    clients = Clients()
    with (
        scratch_settings(static_dir=static_dir) as settings,
        run_server(settings) as url_one,
        run_server(settings) as url_two,
    ):
        ada, bob = clients.user(url_one, "Ada"), clients.user(url_one, "Bob")
        big = ada.http.post("/api/workflows/import", json=big_workflow())
        assert big.status_code == 201, big.text
        small = ada.http.post("/api/workflows/import", json={
            "format": "galaxy.workflow", "version": 1, "name": "Moves",
            "nodes": [{"id": "mover", "type": "text", "position": {"x": 0, "y": 0}, "data": {}},
                      {"id": "still", "type": "llm", "position": {"x": 600, "y": 0}, "data": {}}],
            "edges": []})  # fmt: skip
        assert small.status_code == 201, small.text
        ada.share(small.json()["id"], bob, "editor")
        with sync_playwright() as driver:
            browser = driver.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            results["sign_in_page_scripts"] = sign_in_page_scripts(browser, url_one)
            if "render" in parts:
                results["render_ms"] = [render_time(browser, url_one, ada, big.json()["id"]) for _ in range(args.loads)]
            if "pan" in parts or "drag" in parts:
                results["pan"] = []
                for index in range(args.pans):
                    page = open_page(browser, url_one, ada, probe=True)
                    page.goto(f"/w/{big.json()['id']}")
                    page.wait_for_function(ALL_SHOWN, polling="raf", timeout=60_000)
                    page.wait_for_timeout(500)
                    if "pan" in parts:
                        results["pan"].append(pan_frames(page))
                        page.wait_for_timeout(300)
                        results.setdefault("pan_in_page", []).append(pan_in_page(page))
                    if "drag" in parts and index == args.pans - 1:
                        results["drag"] = drag_renders(page)
                    page.context.close()
            if "moves" in parts:
                results["moves_one_process"] = move_latency(browser, url_one, url_one, ada, bob, small.json()["id"])
                results["moves_two_processes"] = move_latency(browser, url_one, url_two, ada, bob, small.json()["id"])
            browser.close()
    clients.close()
    results["load_average_after"] = os.getloadavg()
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
