"""One execution of one node: resolve what it runs with, call its executor under a timeout,
and turn whatever happens into a `NodeResult` (the executor's failures never escape); what a
worker keeps about a run meanwhile (`RunState`), and the events a recorded result announces."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec
import structlog

from engine.events import NodeFinished, NodeStatus
from engine.graph import Adjacency
from engine.nodes.base import MediaStore, NodeContext, NodeFailed, NodeType, Offload, ProgressCallback, in_thread
from engine.resolve import cache_key, effective_params, resolve_inputs
from engine.store import Claim, NodeResult, RunSnapshot

log = structlog.get_logger(__name__)


class RunState:
    """What a worker keeps about a run it works on: the snapshot, its adjacency, known outputs."""

    def __init__(self, snapshot: RunSnapshot) -> None:
        self.snapshot = snapshot
        members = set(snapshot.node_ids) or set(snapshot.graph.nodes)
        self.adjacency = Adjacency(snapshot.graph)
        self.successors = {n: [s for s in self.adjacency.successors[n] if s in members] for n in members}
        self.outputs: dict[str, dict[str, Any]] = {}

    def descendants(self, node_id: str) -> list[str]:
        seen: set[str] = set()
        stack = [node_id]
        while stack:
            for child in self.successors.get(stack.pop(), ()):
                if child not in seen:
                    seen.add(child)
                    stack.append(child)
        return sorted(seen)


def finished_events(
    run_id: str, node_id: str, node_type: str, result: NodeResult, skipped: Sequence[tuple[str, str]]
) -> list[NodeFinished]:
    """The events of a recorded node result: the node's own, and one per descendant it skipped."""
    return [
        NodeFinished(
            run_id=run_id,
            node_id=node_id,
            node_type=node_type,
            status=result.status,
            outputs=result.outputs,
            error=result.error,
            error_detail=result.error_detail,
            duration_ms=result.duration_ms,
            at=result.finished_at,
        )
    ] + [
        NodeFinished(
            run_id=run_id,
            node_id=skipped_id,
            node_type=skipped_type,
            status=NodeStatus.SKIPPED,
            error=f"Skipped because node {node_id} did not succeed.",
            at=result.finished_at,
        )
        for skipped_id, skipped_type in skipped
    ]


async def invoke(
    *,
    snapshot: RunSnapshot,
    adjacency: Adjacency,
    node_id: str,
    claim: Claim,
    node_type: NodeType | None,
    upstream: Callable[[], Awaitable[dict[str, dict[str, Any]]]],
    on_progress: ProgressCallback,
    worker_timeout: float,
    media: MediaStore | None = None,
    offload: Offload = in_thread,
    refused: NodeFailed | None = None,
) -> NodeResult:
    """Execute `node_id` of the run. `refused` fails the node without running it; a missing
    `node_type` means this worker does not know the node's type."""
    node = snapshot.graph.nodes[node_id]
    began = time.perf_counter()
    inputs: dict[str, Any] = {}
    key = ""
    status, outputs, error, detail = NodeStatus.FAILED, {}, "", ""
    usage: dict[str, Any] = {}
    timeout = worker_timeout
    deadline: asyncio.Timeout | None = None
    try:
        if refused is not None:
            raise refused
        if node_type is None:
            raise NodeFailed(
                f"Node {node_id} has type {node.type!r}, which this worker does not know; "
                "deploy the same version of Galaxy on web and workers.",
            )
        spec = node_type.spec
        if node_type.timeout is not None:
            timeout = min(timeout, node_type.timeout)
        params = effective_params(node, spec, snapshot.inputs)
        port_values = resolve_inputs(node, spec, adjacency, await upstream())
        inputs = {**params, **port_values}
        key = cache_key(spec, params, port_values)
        context = NodeContext(
            run_id=snapshot.run_id,
            workflow_id=snapshot.workflow_id,
            node_id=node_id,
            spec=spec,
            params=params,
            inputs=port_values,
            run_inputs=snapshot.inputs,
            attempt=claim.attempt,
            media=media,
            on_progress=on_progress,
            usage=usage,
            offload=offload,
        )
        async with asyncio.timeout(timeout) as deadline:
            produced = await node_type.execute(context)
        if not isinstance(produced, dict):
            raise NodeFailed(
                f"Node {node_id} produced no outputs.", detail=f"executor returned {type(produced).__name__}"
            )
        msgspec.json.encode(produced)  # outputs are stored and sent as JSON
        status, outputs = NodeStatus.SUCCESS, produced
    except NodeFailed as failure:
        error, detail = failure.message, failure.detail
    except asyncio.CancelledError:
        status, error = NodeStatus.CANCELLED, "The run was cancelled while this node was running."
    except Exception as exc:  # a bug in an executor must fail its node, not the worker
        if isinstance(exc, TimeoutError) and deadline is not None and deadline.expired():
            error = f"Node {node_id} did not finish within {timeout:g} seconds and was stopped."
            detail = f"node timeout {timeout:g} s"
        else:
            log.exception("node_crashed")
            error = f"Node {node_id} failed unexpectedly; the error has been logged."
            detail = f"{type(exc).__name__}: {exc}"[:2000]
    return NodeResult(
        status=status,
        inputs=inputs,
        outputs=outputs,
        error=error,
        error_detail=detail,
        cache_key=key if status == NodeStatus.SUCCESS else "",
        usage=usage,
        started_at=claim.started_at,
        finished_at=datetime.now(UTC),
        duration_ms=int((time.perf_counter() - began) * 1000),
    )
