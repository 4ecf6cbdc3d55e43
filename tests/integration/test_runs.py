"""Runs end to end: a real server and an in-process arq worker that know the test node types.

Timing assertions compare the timestamps the run recorded (orderings and overlaps), never
wall-clock durations.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from pycrdt import Map

from server.settings import Settings
from tests.collab_client import YClient, eventually
from tests.integration.runs_support import (
    EventCapture,
    edge,
    executions,
    import_workflow,
    in_process_worker,
    node,
    nodes_of,
    runs_settings,
    start_run,
    text,
    wait_for_node,
    wait_for_run,
)
from tests.support import METRICS_HEADERS, Clients, User, assert_problem, run_server


@pytest.fixture(scope="module", autouse=True)
def worker(settings: Settings, runs_url: str, node_log: Path) -> Iterator[None]:
    with in_process_worker(runs_settings(settings)):
        yield


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _interval(run: dict[str, Any], node_id: str) -> tuple[datetime, datetime]:
    entry = nodes_of(run)[node_id]
    return _at(entry["started_at"]), _at(entry["finished_at"])


def test_branches_run_in_parallel_and_the_join_waits_for_both(runs_user: Callable[..., User]) -> None:
    owner = runs_user("owner")
    workflow_id = import_workflow(
        owner,
        [
            text("t", "go:"),
            node("a1", "sleep", seconds=0.3),
            node("a2", "sleep", seconds=0.3),
            node("b1", "sleep", seconds=0.5),
            node("join", "concat", label="Joined"),
        ],
        [
            edge("t", "a1", source_handle="text"),
            edge("a1", "a2"),
            edge("a2", "join", "parts"),
            edge("b1", "join", "parts"),
        ],
    )
    run = wait_for_run(owner.http, start_run(owner.http, workflow_id)["id"])
    assert run["status"] == "success" and run["trigger"] == "editor" and run["scope"] == "full"
    a1, a2, b1, join = (_interval(run, n) for n in ("a1", "a2", "b1", "join"))
    assert a1[0] < b1[1] and b1[0] < a1[1], "independent branches overlap"
    assert a2[0] >= a1[1], "a node starts after its input finished"
    assert join[0] >= max(a2[1], b1[1]), "the converging node starts after both branches"
    nodes = nodes_of(run)
    assert nodes["join"]["outputs"] == {"out": "go:a1;a2;+b1;"}
    assert nodes["a2"]["inputs"] == {"seconds": 0.3, "a": "go:a1;"}
    assert all(n["duration_ms"] is not None and n["attempt"] == 1 for n in run["nodes"])
    assert run["outputs"] == {"join": {"out": "go:a1;a2;+b1;"}} and run["outputs_by_label"] == {
        "Joined": run["outputs"]["join"]
    }
    assert run["duration_ms"] is not None and run["graph"]["nodes"][0]["id"] == "a1"


def test_a_failed_node_skips_its_downstream_and_other_branches_carry_on(runs_user: Callable[..., User]) -> None:
    owner = runs_user("owner")
    workflow_id = import_workflow(
        owner,
        [text("t", "x"), node("bad", "fail"), node("after", "sleep"), node("later", "sleep"), node("ok", "sleep")],
        [
            edge("t", "bad", source_handle="text"),
            edge("bad", "after"),
            edge("after", "later"),
            edge("t", "ok", source_handle="text"),
        ],
    )
    run = wait_for_run(owner.http, start_run(owner.http, workflow_id)["id"])
    nodes = nodes_of(run)
    assert run["status"] == "partial"
    assert {n: nodes[n]["status"] for n in nodes} == {
        "t": "success",
        "bad": "failed",
        "after": "skipped",
        "later": "skipped",
        "ok": "success",
    }
    assert nodes["bad"]["error"] == "Node bad failed on purpose." and nodes["bad"]["error_detail"] == "test failure"
    assert "node bad did not succeed" in nodes["after"]["error"]
    only_failure = import_workflow(owner, [node("bad", "fail")], [])
    assert wait_for_run(owner.http, start_run(owner.http, only_failure)["id"])["status"] == "failed"


def test_a_node_that_runs_too_long_is_stopped(runs_user: Callable[..., User], node_log: Path) -> None:
    owner = runs_user("owner")
    workflow_id = import_workflow(
        owner, [node("slow", "slow", seconds=20), node("next", "sleep")], [edge("slow", "next")]
    )
    run = wait_for_run(owner.http, start_run(owner.http, workflow_id)["id"])
    nodes = nodes_of(run)
    assert run["status"] == "failed"
    assert nodes["slow"]["status"] == "failed" and "did not finish within 0.3 seconds" in nodes["slow"]["error"]
    assert nodes["next"]["status"] == "skipped"
    assert executions(node_log, run["id"]) == {"slow": {"start": 1, "end": 0}}


def test_cancel_stops_running_nodes_and_cancels_pending_ones(runs_user: Callable[..., User], node_log: Path) -> None:
    owner = runs_user("owner")
    workflow_id = import_workflow(
        owner,
        [node("long", "sleep", seconds=20), node("next", "sleep"), node("quick", "sleep")],
        [edge("long", "next")],
    )
    run_id = start_run(owner.http, workflow_id)["id"]
    wait_for_node(owner.http, run_id, "long", "running")
    response = owner.http.post(f"/api/runs/{run_id}/cancel", json={})
    assert response.status_code == 202, response.text
    run = wait_for_run(owner.http, run_id, timeout=10)
    nodes = nodes_of(run)
    assert run["status"] == "cancelled"
    assert nodes["long"]["status"] == "cancelled" and nodes["next"]["status"] == "cancelled"
    assert executions(node_log, run_id)["long"] == {"start": 1, "end": 0}
    assert_problem(owner.http.post(f"/api/runs/{run_id}/cancel", json={}), 409, "already finished")


def test_selected_and_single_runs_reuse_upstream_outputs_while_they_are_valid(
    runs_user: Callable[..., User], node_log: Path
) -> None:
    owner = runs_user("owner")
    workflow_id = import_workflow(
        owner,
        [text("topic", "cats", input_name="topic"), node("up", "sleep"), node("mid", "sleep"), node("end", "concat")],
        [edge("topic", "up", source_handle="text"), edge("up", "mid"), edge("mid", "end", "parts")],
    )
    first = wait_for_run(owner.http, start_run(owner.http, workflow_id)["id"])
    assert first["status"] == "success"

    single = wait_for_run(owner.http, start_run(owner.http, workflow_id, scope="single", node_ids=["end"])["id"])
    statuses = {n: v["status"] for n, v in nodes_of(single).items()}
    assert statuses == {"topic": "cached", "up": "cached", "mid": "cached", "end": "success"}
    assert single["outputs"] == {"end": {"out": "catsup;mid;"}}
    assert executions(node_log, single["id"]) == {"end": {"start": 0, "end": 1}}

    # A different input invalidates the Text node's cache key, and with it everything downstream.
    changed = start_run(owner.http, workflow_id, scope="selected", node_ids=["mid"], inputs={"topic": "dogs"})
    changed = wait_for_run(owner.http, changed["id"])
    statuses = {n: v["status"] for n, v in nodes_of(changed).items()}
    assert statuses == {"topic": "success", "up": "success", "mid": "success"}
    assert nodes_of(changed)["mid"]["outputs"] == {"out": "dogsup;mid;"}
    assert changed["scope"] == "selected" and changed["node_ids"] == ["mid"]

    # The latest successful outputs are now those of the "dogs" run: a plain run of `end` (text
    # "cats" again) cannot reuse them for the Text node, so everything runs.
    again = wait_for_run(owner.http, start_run(owner.http, workflow_id, scope="single", node_ids=["end"])["id"])
    assert {v["status"] for v in nodes_of(again).values()} == {"success"}


def test_events_are_numbered_per_run_without_gaps(runs_user: Callable[..., User], settings: Settings) -> None:
    owner = runs_user("owner")
    workflow_id = import_workflow(
        owner,
        [
            text("t", "x"),
            node("a", "sleep", seconds=0.05),
            node("b", "sleep"),
            node("bad", "fail"),
            node("skip", "sleep"),
        ],
        [edge("t", "a", source_handle="text"), edge("t", "b", source_handle="text"), edge("bad", "skip")],
    )
    capture = EventCapture(settings, workflow_id)
    try:
        run_id = start_run(owner.http, workflow_id)["id"]
        events = capture.until(lambda e: e["type"] == "run_finished" and e["run_id"] == run_id)
    finally:
        capture.close()
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert events[0]["type"] == "run_started" and events[0]["workflow_id"] == workflow_id
    assert events[-1]["status"] == "partial" and events[-1]["duration_ms"] is not None
    finished = {e["node_id"]: e for e in events if e["type"] == "node_finished"}
    assert finished["a"]["outputs"] == {"out": "xa;"} and finished["a"]["duration_ms"] is not None
    assert finished["bad"]["status"] == "failed" and finished["skip"]["status"] == "skipped"
    progress = [e for e in events if e["type"] == "node_progress"]
    assert {e["node_id"] for e in progress} == {"a", "b"} and progress[0]["delta"].endswith("…")
    for node_id in ("a", "b", "t", "bad"):
        started = next(e["seq"] for e in events if e["type"] == "node_started" and e["node_id"] == node_id)
        assert started < finished[node_id]["seq"]


def test_runs_are_listed_newest_first_with_pages(runs_user: Callable[..., User]) -> None:
    owner = runs_user("owner")
    workflow_id = import_workflow(owner, [text("t", "x")], [])
    ids = [wait_for_run(owner.http, start_run(owner.http, workflow_id)["id"])["id"] for _ in range(3)]
    page = owner.http.get(f"/api/workflows/{workflow_id}/runs", params={"limit": 2}).json()
    assert [r["id"] for r in page["items"]] == ids[::-1][:2]
    rest = owner.http.get(
        f"/api/workflows/{workflow_id}/runs", params={"limit": 2, "cursor": page["next_cursor"]}
    ).json()
    assert [r["id"] for r in rest["items"]] == ids[:1] and rest["next_cursor"] is None
    item = page["items"][0]
    assert item["status"] == "success" and item["scope"] == "full" and item["trigger"] == "editor"
    assert item["duration_ms"] is not None and item["actor"]["id"] == owner.id
    assert_problem(owner.http.get(f"/api/workflows/{workflow_id}/runs", params={"cursor": "nope"}), 422, "cursor")


def test_api_token_runs_fill_workflow_inputs(runs_user: Callable[..., User]) -> None:
    owner = runs_user("owner")
    workflow_id = import_workflow(owner, [text("t", "typed", input_name="subject", label="Subject")], [])
    script = owner.token_client()
    run = wait_for_run(script, start_run(script, workflow_id, inputs={"subject": "given"})["id"])
    assert run["trigger"] == "api" and run["inputs"] == {"subject": "given"}
    assert run["outputs"] == {"t": {"text": "given"}} and run["outputs_by_label"] == {"Subject": {"text": "given"}}


def test_a_workflow_that_cannot_run_gets_422_naming_each_problem(runs_user: Callable[..., User]) -> None:
    owner = runs_user("owner")
    workflow_id = import_workflow(owner, [node("l1", "llm"), node("l2", "llm"), text("t", "fine")], [])
    body = assert_problem(owner.http.post(f"/api/workflows/{workflow_id}/runs", json={}), 422, "cannot run")
    assert {(e["code"], e["node_id"]) for e in body["errors"]} == {
        ("missing_required_input", "l1"),
        ("missing_required_input", "l2"),
    }
    # Problems of nodes outside the run do not block it, and the run keeps only its own part.
    run = wait_for_run(owner.http, start_run(owner.http, workflow_id, scope="single", node_ids=["t"])["id"])
    assert run["status"] == "success" and [n["id"] for n in run["graph"]["nodes"]] == ["t"]
    assert len(owner.http.get(f"/api/workflows/{workflow_id}/runs").json()["items"]) == 1


def test_an_llm_node_without_a_configured_model_says_what_to_set(runs_user: Callable[..., User]) -> None:
    owner = runs_user("owner")
    workflow_id = import_workflow(
        owner, [text("t", "hi"), node("l", "llm")], [edge("t", "l", "user_message", source_handle="text")]
    )
    run = wait_for_run(owner.http, start_run(owner.http, workflow_id)["id"])
    assert run["status"] == "partial"
    assert "No language model is configured" in nodes_of(run)["l"]["error"]
    assert "GALAXY_MODELS" in nodes_of(run)["l"]["error"]


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ({"scope": "everything"}, 400, "scope"),
        ({"scope": "single", "node_ids": ["a", "b"]}, 422, "exactly one"),
        ({"scope": "selected"}, 422, "at least one"),
        ({"scope": "selected", "node_ids": ["t", "ghost"]}, 422, "ghost"),
        ({"scope": "full", "node_ids": ["t"]}, 422, "takes no node_ids"),
        ({"node_ids": ["x" * 65]}, 400, "node_ids"),
        ({"scope": "selected", "node_ids": ["t"] * 501}, 422, "at most 500"),
        ({"scope": "selected", "node_ids": ["t"] * 10_001}, 400, "node_ids"),
        ({"inputs": {"nope": "x"}}, 422, "unknown inputs: nope"),
        ({"inputs": {"topic": 3}}, 400, "inputs"),
        ({"inputs": {"topic": "nul\u0000"}}, 400, "inputs"),
        ({"inputs": {"bad name": "x"}}, 400, "inputs"),
        ({"inputs": "topic"}, 400, "inputs"),
        ({"extra": 1}, 400, "extra"),
    ],
)
def test_bad_run_requests_are_refused_and_write_nothing(
    runs_user: Callable[..., User], body: dict[str, Any], status: int, fragment: str
) -> None:
    owner = runs_user("owner")
    workflow_id = import_workflow(owner, [text("t", "x", input_name="topic")], [])
    assert_problem(owner.http.post(f"/api/workflows/{workflow_id}/runs", json=body), status, fragment)
    assert owner.http.get(f"/api/workflows/{workflow_id}/runs").json()["items"] == []


def test_runs_of_another_users_workflow_are_404(runs_user: Callable[..., User]) -> None:
    owner, stranger = runs_user("owner"), runs_user("stranger")
    workflow_id = import_workflow(owner, [text("t", "x")], [])
    run_id = wait_for_run(owner.http, start_run(owner.http, workflow_id)["id"])["id"]
    for client in (stranger.http, stranger.token_client()):
        assert_problem(client.get(f"/api/runs/{run_id}"), 404, "no such run")
        assert_problem(client.post(f"/api/runs/{run_id}/cancel", json={}), 404, "no such run")
        assert_problem(client.get(f"/api/workflows/{workflow_id}/runs"), 404, "no such workflow")
        assert_problem(client.post(f"/api/workflows/{workflow_id}/runs", json={}), 404, "no such workflow")
    assert len(owner.http.get(f"/api/workflows/{workflow_id}/runs").json()["items"]) == 1


def test_viewers_read_runs_but_cannot_start_or_cancel_them(runs_user: Callable[..., User]) -> None:
    owner, viewer = runs_user("owner"), runs_user("viewer")
    workflow_id = import_workflow(owner, [node("long", "sleep", seconds=20)], [])
    owner.share(workflow_id, viewer, "viewer")
    run_id = start_run(owner.http, workflow_id)["id"]
    assert viewer.http.get(f"/api/runs/{run_id}").status_code == 200
    assert viewer.http.get(f"/api/workflows/{workflow_id}/runs").json()["items"][0]["id"] == run_id
    assert_problem(viewer.http.post(f"/api/workflows/{workflow_id}/runs", json={}), 403, "editor")
    assert_problem(viewer.http.post(f"/api/runs/{run_id}/cancel", json={}), 403, "editor")
    assert owner.http.post(f"/api/runs/{run_id}/cancel", json={}).status_code == 202
    assert wait_for_run(owner.http, run_id)["status"] == "cancelled"


def test_run_metrics_are_exported(runs_user: Callable[..., User]) -> None:
    # Runs finished by a worker are counted in that worker (see test_runs_workers); the web
    # process counts the runs it starts and those it closes itself (cancelled while queued).
    owner = runs_user("owner")
    workflow_id = import_workflow(owner, [node("long", "sleep", seconds=20)], [])
    run_id = start_run(owner.http, workflow_id)["id"]
    owner.http.post(f"/api/runs/{run_id}/cancel", json={})
    wait_for_run(owner.http, run_id)
    metrics = owner.http.get("/metrics", headers=METRICS_HEADERS).text
    assert 'galaxy_runs_started_total{trigger="editor"}' in metrics
    assert "# TYPE galaxy_runs_finished_total counter" in metrics
    assert "# TYPE galaxy_node_duration_seconds histogram" in metrics


def test_a_websocket_client_sees_every_event_of_a_run_without_gaps(
    runs_url: str, runs_user: Callable[..., User]
) -> None:
    owner = runs_user("owner")
    fan = [node(f"s{i}", "sleep", seconds=0.02 * i) for i in range(6)]
    workflow_id = import_workflow(
        owner,
        [text("t", "x"), *fan, node("join", "concat")],
        [edge("t", n["id"], source_handle="text") for n in fan] + [edge(n["id"], "join", "parts") for n in fan],
    )
    token = owner.http.post("/api/tokens", json={"name": "socket"}).json()["token"]
    socket_url = runs_url.replace("http://", "ws://") + f"/ws/workflows/{workflow_id}?token={token}"

    async def watch() -> tuple[str, list[dict[str, Any]]]:
        client = await (await YClient(socket_url).connect()).wait_synced()
        try:
            run_id = (await asyncio.to_thread(start_run, owner.http, workflow_id))["id"]
            await eventually(
                lambda: any(e["type"] == "run_finished" and e["run_id"] == run_id for e in client.events), timeout=30
            )
        finally:
            await client.close()
        return run_id, [e for e in client.events if e.get("run_id") == run_id]

    run_id, events = asyncio.run(watch())
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    kinds = [e["type"] for e in events]
    assert kinds[0] == "run_started" and kinds[-1] == "run_finished" and events[-1]["status"] == "success"
    assert kinds.count("node_started") == kinds.count("node_finished") == 8
    finished = wait_for_run(owner.http, run_id)
    assert {e["node_id"]: e["outputs"] for e in events if e["type"] == "node_finished"} == {
        n["node_id"]: n["outputs"] for n in finished["nodes"]
    }


def test_run_starts_are_capped_per_user_and_rate_limited(settings: Settings, clients: Clients) -> None:
    # No worker serves this namespace: runs stay queued, so they count as active.
    namespace = settings.redis_namespace + "-caps"
    with run_server(runs_settings(settings, max_active_runs=2, run_start_limit=4, redis_namespace=namespace)) as url:
        busy, hasty = clients.user(url, "busy"), clients.user(url, "hasty")
        workflow_id = import_workflow(busy, [text("t", "x")], [])
        first = start_run(busy.http, workflow_id)["id"]
        start_run(busy.http, workflow_id)
        refused = busy.http.post(f"/api/workflows/{workflow_id}/runs", json={})
        assert_problem(refused, 429, "2 runs in progress")
        assert int(refused.headers["retry-after"]) >= 1
        assert busy.http.post(f"/api/runs/{first}/cancel", json={}).status_code == 202
        start_run(busy.http, workflow_id)  # a slot is free again

        other = import_workflow(hasty, [text("t", "x")], [])
        for _ in range(4):
            run_id = start_run(hasty.http, other)["id"]
            assert hasty.http.post(f"/api/runs/{run_id}/cancel", json={}).status_code == 202
        limited = hasty.http.post(f"/api/workflows/{other}/runs", json={})
        assert_problem(limited, 429, "too many run start attempts")
        assert int(limited.headers["retry-after"]) >= 1
        assert len(hasty.http.get(f"/api/workflows/{other}/runs").json()["items"]) == 4


def test_a_run_is_checked_against_the_live_document(runs_url: str, runs_user: Callable[..., User]) -> None:
    owner = runs_user("owner")
    workflow_id = import_workflow(owner, [node("a", "sleep"), node("b", "sleep"), node("img", "upload_image")], [])
    token = owner.http.post("/api/tokens", json={"name": "socket"}).json()["token"]
    socket_url = runs_url.replace("http://", "ws://") + f"/ws/workflows/{workflow_id}?token={token}"

    def link(client: YClient, edge_id: str, source: str, handle: str, target: str) -> None:
        client.edges[edge_id] = Map({"source": source, "sourceHandle": handle, "target": target, "targetHandle": "a"})

    def shows_cycle() -> bool:
        problems = owner.http.get(f"/api/workflows/{workflow_id}").json()["problems"]
        return any(p["code"] == "cycle" for p in problems)

    async def edit() -> None:
        client = await (await YClient(socket_url).connect()).wait_synced()
        try:
            link(client, "ab", "a", "out", "b")
            link(client, "ba", "b", "out", "a")
            link(client, "ia", "img", "image", "a")
            await eventually(lambda: asyncio.to_thread(shows_cycle), timeout=10)
        finally:
            await client.close()

    asyncio.run(edit())
    response = owner.http.post(f"/api/workflows/{workflow_id}/runs", json={})
    body = assert_problem(response, 422, "cannot run")
    codes = {(e["code"], e.get("edge_id")) for e in body["errors"]}
    assert ("cycle", None) in codes and ("incompatible_types", "ia") in codes
    assert owner.http.get(f"/api/workflows/{workflow_id}/runs").json()["items"] == []
