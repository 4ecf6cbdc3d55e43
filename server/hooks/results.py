"""What a webhook caller learns about a finished run, in the `?wait` answer and in the callback:
status, outputs (those of the run's leaf nodes, keyed by node id and by label, SPEC §5), each
failed node's error, and timings. One reader for both, so the two always agree."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
import msgspec

from engine.events import NodeStatus, RunStatus
from server.runs.service import leaf_outputs
from server.runs.store import PostgresRunStore, decode_json
from server.workflows.format import decode_graph

FINAL = frozenset({RunStatus.SUCCESS, RunStatus.FAILED, RunStatus.PARTIAL, RunStatus.CANCELLED})


class FailedNode(msgspec.Struct):
    node_id: str
    node_type: str
    label: str
    error: str


class NodeTiming(msgspec.Struct):
    node_id: str
    status: NodeStatus
    started_at: datetime | None
    finished_at: datetime | None
    duration_ms: int | None


class RunResult(msgspec.Struct, kw_only=True):
    """A run as a webhook caller sees it."""

    run_id: UUID
    status: RunStatus
    status_url: str
    error: str
    outputs: dict[str, dict[str, Any]]
    outputs_by_label: dict[str, dict[str, Any]]
    errors: list[FailedNode]
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    duration_ms: int | None
    nodes: list[NodeTiming]

    @property
    def finished(self) -> bool:
        return self.status in FINAL


def status_url(base_url: str, run_id: UUID) -> str:
    """Where the run can be read with an API token of a member (GET /api/runs/{id})."""
    return f"{base_url.rstrip('/')}/api/runs/{run_id}"


async def run_status(pool: asyncpg.Pool, run_id: UUID) -> RunStatus | None:
    return await PostgresRunStore(pool).status(run_id)


async def run_result(pool: asyncpg.Pool, run_id: UUID, base_url: str) -> RunResult | None:
    found = await PostgresRunStore(pool).run(run_id)
    if found is None:
        return None
    run, rows = found
    graph = decode_graph(run["graph"])

    def label(node_id: str) -> str:
        value = graph.nodes[node_id].data.get("label") if node_id in graph.nodes else None
        return value if isinstance(value, str) else ""

    errors = [
        FailedNode(row["node_id"], row["node_type"], label(row["node_id"]), row["error"])
        for row in rows
        if row["status"] == NodeStatus.FAILED
    ]
    outputs, by_label = leaf_outputs(
        graph, {row["node_id"]: (NodeStatus(row["status"]), decode_json(row["outputs"])) for row in rows}
    )
    started, finished = run["started_at"], run["finished_at"]
    return RunResult(
        run_id=run_id,
        status=RunStatus(run["status"]),
        status_url=status_url(base_url, run_id),
        error=run["error"],
        outputs=outputs,
        outputs_by_label=by_label,
        errors=errors,
        created_at=run["created_at"],
        started_at=started,
        finished_at=finished,
        duration_ms=int((finished - started).total_seconds() * 1000) if started and finished else None,
        nodes=[
            NodeTiming(r["node_id"], NodeStatus(r["status"]), r["started_at"], r["finished_at"], r["duration_ms"])
            for r in rows
        ],
    )
