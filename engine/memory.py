"""In-memory twins of the run store, dispatcher and event sink, for tests and benchmarks of the
scheduling logic without Postgres, Redis or a queue."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from engine.events import FINAL_NODE_STATUSES, NodeStatus, RunEvent, RunStatus, with_seq
from engine.plan import Plan
from engine.store import (
    Begun,
    CachedNode,
    Claim,
    Finished,
    NodeResult,
    Reclaimed,
    RunOutcome,
    RunSnapshot,
    Stalled,
)


class MemoryNode(msgspec.Struct, kw_only=True):
    node_id: str
    node_type: str
    status: NodeStatus
    waits_for: int
    attempt: int = 0
    worker: str = ""
    lease_until: datetime | None = None
    result: NodeResult | None = None
    outputs: dict[str, Any] = msgspec.field(default_factory=dict)


class MemoryRun(msgspec.Struct, kw_only=True):
    snapshot: RunSnapshot
    nodes: dict[str, MemoryNode]
    status: RunStatus = RunStatus.QUEUED
    cancel_requested: bool = False
    started_at: datetime | None = None
    finished_at: datetime | None = None


def _now() -> datetime:
    return datetime.now(UTC)


class MemoryRunStore:
    """A `RunStore` in a dict; operations are atomic because they never await."""

    def __init__(self) -> None:
        self.runs: dict[str, MemoryRun] = {}

    def add(self, snapshot: RunSnapshot, plan: Plan) -> None:
        nodes = {
            node_id: MemoryNode(
                node_id=node_id,
                node_type=planned.node_type,
                status=NodeStatus.CACHED if planned.cached else NodeStatus.PENDING,
                waits_for=planned.waits_for,
                outputs=planned.outputs,
            )
            for node_id, planned in plan.nodes.items()
        }
        snapshot.node_ids = list(plan.nodes)
        self.runs[snapshot.run_id] = MemoryRun(snapshot=snapshot, nodes=nodes)

    def cancel(self, run_id: str) -> list[str]:
        """Request cancellation: pending nodes become cancelled at once; returns them."""
        run = self.runs[run_id]
        run.cancel_requested = True
        cancelled = [n.node_id for n in run.nodes.values() if n.status == NodeStatus.PENDING]
        for node_id in cancelled:
            run.nodes[node_id].status = NodeStatus.CANCELLED
        return cancelled

    async def snapshot(self, run_id: str) -> RunSnapshot | None:
        run = self.runs.get(run_id)
        return run.snapshot if run else None

    async def begin(self, run_id: str) -> Begun | None:
        run = self.runs[run_id]
        if run.status != RunStatus.QUEUED or run.cancel_requested:
            return None
        run.status, run.started_at = RunStatus.RUNNING, _now()
        nodes = sorted(run.nodes.values(), key=lambda n: n.node_id)
        cached = [CachedNode(n.node_id, n.node_type, n.outputs) for n in nodes if n.status == NodeStatus.CACHED]
        return Begun(cached=cached, ready=await self.ready(run_id))

    async def ready(self, run_id: str) -> list[str]:
        run = self.runs[run_id]
        if run.status != RunStatus.RUNNING:
            return []
        return sorted(n.node_id for n in run.nodes.values() if n.status == NodeStatus.PENDING and n.waits_for == 0)

    async def claim(
        self, run_id: str, node_ids: Sequence[str], worker_id: str, lease_seconds: float
    ) -> dict[str, Claim]:
        run = self.runs[run_id]
        claims: dict[str, Claim] = {}
        for node_id in node_ids:
            node = run.nodes.get(node_id)
            if node is None or run.cancel_requested or node.status != NodeStatus.PENDING or node.waits_for:
                continue
            node.status, node.worker, node.attempt = NodeStatus.RUNNING, worker_id, node.attempt + 1
            node.lease_until = _now() + timedelta(seconds=lease_seconds)
            claims[node_id] = Claim(attempt=node.attempt, started_at=_now())
        return claims

    async def release(self, run_id: str, node_id: str, worker_id: str) -> bool:
        node = self.runs[run_id].nodes[node_id]
        if node.status != NodeStatus.RUNNING or node.worker != worker_id:
            return False
        node.status, node.worker, node.attempt, node.lease_until = NodeStatus.PENDING, "", node.attempt - 1, None
        return True

    async def outputs(self, run_id: str, node_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        nodes = self.runs[run_id].nodes
        return {n: nodes[n].outputs for n in node_ids if n in nodes and nodes[n].status in FINAL_NODE_STATUSES}

    async def finish(
        self,
        run_id: str,
        node_id: str,
        worker_id: str,
        result: NodeResult,
        successors: Sequence[str],
        descendants: Sequence[str],
        lease_seconds: float = 30.0,
    ) -> Finished | None:
        run = self.runs[run_id]
        node = run.nodes[node_id]
        if node.status != NodeStatus.RUNNING or node.worker != worker_id:
            return None
        node.status, node.result, node.outputs = result.status, result, result.outputs
        ready: list[str] = []
        skipped: list[tuple[str, str]] = []
        if result.status == NodeStatus.SUCCESS:
            for successor in successors:
                child = run.nodes[successor]
                if child.status == NodeStatus.PENDING:
                    child.waits_for -= 1
                    if child.waits_for == 0:
                        ready.append(successor)
        else:
            for descendant in descendants:
                child = run.nodes[descendant]
                if child.status == NodeStatus.PENDING:
                    child.status = NodeStatus.SKIPPED
                    skipped.append((descendant, child.node_type))
        ready.sort()
        pending_left = any(n.status == NodeStatus.PENDING for n in run.nodes.values())
        if ready and not run.cancel_requested:
            claims = await self.claim(run_id, ready[:1], worker_id, lease_seconds)
            if claims:
                return Finished(ready[1:], skipped, (ready[0], claims[ready[0]]), pending_left)
        return Finished(ready, skipped, None, pending_left)

    async def finalize(self, run_id: str) -> RunOutcome | None:
        run = self.runs[run_id]
        statuses = [n.status for n in run.nodes.values()]
        if run.status not in (RunStatus.QUEUED, RunStatus.RUNNING) or any(
            s in (NodeStatus.PENDING, NodeStatus.RUNNING) for s in statuses
        ):
            return None
        run.status = final_status(statuses)
        run.finished_at = _now()
        started = run.started_at or run.finished_at
        return RunOutcome(run.status, int((run.finished_at - started).total_seconds() * 1000))

    async def renew(self, worker_id: str, lease_seconds: float, held: Sequence[tuple[str, str]]) -> list[str]:
        until = _now() + timedelta(seconds=lease_seconds)
        for run_id, node_id in held:
            node = self.runs[run_id].nodes[node_id]
            if node.worker == worker_id and node.status == NodeStatus.RUNNING:
                node.lease_until = until
        return sorted({run_id for run_id, _ in held if self.runs[run_id].cancel_requested})

    async def reclaim(self) -> list[Reclaimed]:
        now = _now()
        reclaimed = []
        for run in self.runs.values():
            for node in run.nodes.values():
                if node.status == NodeStatus.RUNNING and node.lease_until is not None and node.lease_until < now:
                    node.status = NodeStatus.CANCELLED if run.cancel_requested else NodeStatus.PENDING
                    node.worker = ""
                    reclaimed.append(
                        Reclaimed(
                            run.snapshot.run_id,
                            run.snapshot.workflow_id,
                            node.node_id,
                            node.node_type,
                            node.status,
                            node.attempt,
                        )
                    )
        return reclaimed

    async def stalled(self, idle_seconds: float) -> list[Stalled]:
        return []


def final_status(statuses: Sequence[NodeStatus]) -> RunStatus:
    """A finished run's status from its nodes' (SPEC §4): cancelled wins, then failures."""
    if NodeStatus.CANCELLED in statuses:
        return RunStatus.CANCELLED
    if NodeStatus.FAILED in statuses:
        return RunStatus.PARTIAL if NodeStatus.SUCCESS in statuses else RunStatus.FAILED
    return RunStatus.SUCCESS


class MemoryEvents:
    """An `EventSink` that numbers events per run and keeps them in a list."""

    def __init__(self) -> None:
        self.events: list[RunEvent] = []
        self._seq: dict[str, int] = {}

    async def publish(self, workflow_id: str, event: RunEvent) -> int:
        seq = self._seq.get(event.run_id, 0) + 1
        self._seq[event.run_id] = seq
        self.events.append(with_seq(event, seq))
        return seq

    async def publish_all(self, workflow_id: str, events: Sequence[RunEvent]) -> list[int]:
        return [await self.publish(workflow_id, event) for event in events]


class TaskDispatcher:
    """A `Dispatcher` that runs work as tasks of the current event loop, through `target`."""

    def __init__(self) -> None:
        self.target: Any = None
        self.tasks: set[asyncio.Task[None]] = set()
        self._asked: set[tuple[str, str, int]] = set()

    async def start_run(self, run_id: str) -> None:
        self._spawn(self.target.start_run(run_id))

    async def run_nodes(self, run_id: str, nodes: Sequence[tuple[str, int]]) -> None:
        for node_id, attempt in nodes:
            if (run_id, node_id, attempt) not in self._asked:
                self._asked.add((run_id, node_id, attempt))
                self._spawn(self.target.run_nodes(run_id, [node_id]))

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.create_task(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def drain(self) -> None:
        """Wait until no dispatched work is left."""
        while self.tasks:
            await asyncio.gather(*list(self.tasks))

    async def drain_ignoring_cancelled(self) -> None:
        """`drain`, treating work that was cancelled as done."""
        while self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=True)
