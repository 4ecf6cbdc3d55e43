"""Runs on real `galaxy worker` processes: several workers sharing one run, and a worker killed
with SIGKILL in the middle of a run."""

from __future__ import annotations

import signal
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from server.embedded import free_port
from server.settings import Settings
from tests.integration.runs_support import (
    edge,
    executing_processes,
    executions,
    import_workflow,
    node,
    nodes_of,
    runs_settings,
    start_run,
    text,
    wait_for_node,
    wait_for_run,
    worker_processes,
)
from tests.support import User


def test_two_workers_share_the_nodes_of_one_run(
    settings: Settings, runs_user: Callable[..., User], node_log: Path, tmp_path: Path
) -> None:
    owner = runs_user("owner")
    fan = [node(f"s{i}", "sleep", seconds=0.4) for i in range(8)]
    workflow_id = import_workflow(
        owner,
        [text("t", "x"), *fan, node("join", "concat")],
        [edge("t", n["id"], source_handle="text") for n in fan] + [edge(n["id"], "join", "parts") for n in fan],
    )
    # Two job slots per worker: neither can take the whole fan-out alone.
    with worker_processes(runs_settings(settings, worker_max_jobs=2), node_log, 2, tmp_path):
        run = wait_for_run(owner.http, start_run(owner.http, workflow_id)["id"], timeout=60)
    assert run["status"] == "success"
    pids = executing_processes(node_log, run["id"])
    assert len(set().union(*pids.values())) == 2, pids
    assert all(len(p) == 1 for p in pids.values()), "every node ran exactly once"
    by_pid: dict[str, list[str]] = {}
    for node_id, (pid,) in pids.items():
        by_pid.setdefault(pid, []).append(node_id)
    first, second = by_pid.values()
    nodes = nodes_of(run)

    def interval(node_id: str) -> tuple[datetime, datetime]:
        return datetime.fromisoformat(nodes[node_id]["started_at"]), datetime.fromisoformat(
            nodes[node_id]["finished_at"]
        )

    assert any(
        interval(a)[0] < interval(b)[1] and interval(b)[0] < interval(a)[1]
        for a in first
        if a != "join"
        for b in second
        if b != "join"
    ), "the two workers executed nodes of the run at the same time"


@pytest.mark.timeout(120)
def test_a_worker_killed_mid_run_leaves_no_run_running_and_no_success_repeated(
    settings: Settings, runs_user: Callable[..., User], node_log: Path, tmp_path: Path
) -> None:
    owner = runs_user("owner")
    workflow_id = import_workflow(
        owner,
        [
            text("t", "x"),
            node("first", "sleep", seconds=0.5),
            node("victim", "sleep", seconds=3),
            node("last", "sleep", seconds=0.1),
            node("side", "sleep", seconds=0.05),  # done well before `victim` starts
        ],
        [
            edge("t", "first", source_handle="text"),
            edge("first", "victim"),
            edge("victim", "last"),
            edge("t", "side", source_handle="text"),
        ],
    )
    worker_settings = runs_settings(settings)
    with worker_processes(worker_settings, node_log, 1, tmp_path) as (doomed,):
        run_id = start_run(owner.http, workflow_id)["id"]
        wait_for_node(owner.http, run_id, "victim", "running")
        doomed.send_signal(signal.SIGKILL)
        doomed.wait()
        assert owner.http.get(f"/api/runs/{run_id}").json()["status"] == "running"
        with worker_processes(worker_settings, node_log, 1, tmp_path / ".."):
            run = wait_for_run(owner.http, run_id, timeout=60)
    assert run["status"] == "success"
    nodes = nodes_of(run)
    assert nodes["victim"]["attempt"] == 2 and all(nodes[n]["attempt"] == 1 for n in ("t", "first", "last", "side"))
    counts = executions(node_log, run_id)
    assert counts["victim"] == {"start": 2, "end": 1}
    for node_id in ("first", "last", "side"):
        assert counts[node_id]["end"] == 1, (node_id, counts)
    assert nodes["last"]["outputs"] == {"out": "xfirst;victim;last;"}


def test_a_worker_stopped_gracefully_hands_its_running_node_back(
    settings: Settings, runs_user: Callable[..., User], node_log: Path, tmp_path: Path
) -> None:
    owner = runs_user("owner")
    workflow_id = import_workflow(
        owner, [node("victim", "sleep", seconds=3), node("last", "sleep")], [edge("victim", "last")]
    )
    worker_settings = runs_settings(settings)
    with worker_processes(worker_settings, node_log, 1, tmp_path) as (stopping,):
        run_id = start_run(owner.http, workflow_id)["id"]
        wait_for_node(owner.http, run_id, "victim", "running")
        stopping.send_signal(signal.SIGTERM)
        stopping.wait(timeout=30)
        assert nodes_of(owner.http.get(f"/api/runs/{run_id}").json())["victim"]["status"] == "pending"
        (tmp_path / "next").mkdir()
        port = free_port()
        with worker_processes(runs_settings(settings, worker_metrics_port=port), node_log, 1, tmp_path / "next"):
            run = wait_for_run(owner.http, run_id, timeout=60)
            metrics = httpx.get(f"http://127.0.0.1:{port}/metrics").text
    assert run["status"] == "success"
    assert 'galaxy_runs_finished_total{status="success"}' in metrics
    assert 'galaxy_node_duration_seconds_count{node_type="sleep",status="success"}' in metrics
    assert nodes_of(run)["victim"]["attempt"] == 1  # the interrupted attempt does not count
    assert executions(node_log, run_id)["victim"] == {"start": 2, "end": 1}
