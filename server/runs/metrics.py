"""Prometheus metrics of runs and nodes (exposed by the web process at /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from engine.events import NodeStatus, RunStatus
from engine.scheduler import SchedulerObserver

RUNS_STARTED = Counter("galaxy_runs_started_total", "Runs accepted, by trigger.", ["trigger"])
RUNS_FINISHED = Counter("galaxy_runs_finished_total", "Runs finished, by final status.", ["status"])
NODE_DURATION = Histogram(
    "galaxy_node_duration_seconds",
    "Time nodes took to execute, by node type and status.",
    ["node_type", "status"],
    buckets=(0.005, 0.025, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 180, 600),
)


class PrometheusObserver(SchedulerObserver):
    """Records the scheduler's run and node outcomes in the metrics above."""

    def run_finished(self, status: RunStatus) -> None:
        RUNS_FINISHED.labels(status=str(status)).inc()

    def node_finished(self, node_type: str, status: NodeStatus, seconds: float | None) -> None:
        if seconds is not None:
            NODE_DURATION.labels(node_type=node_type, status=str(status)).observe(seconds)
