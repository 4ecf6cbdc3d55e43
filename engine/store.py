"""What the scheduler needs from storage, the queue and the event bus — as Protocols.

The server implements them with Postgres, arq and Redis; `engine.memory` holds in-memory twins
for unit tests and benchmarks of the scheduling logic itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal, Protocol

import msgspec

from engine.events import NodeStatus, RunEvent, RunStatus
from engine.graph import Graph


class RunSnapshot(msgspec.Struct, kw_only=True):
    """The immutable part of a run: the graph it runs and what it was given."""

    run_id: str
    workflow_id: str
    graph: Graph
    inputs: dict[str, str] = msgspec.field(default_factory=dict)
    scope: str = "full"
    trigger: str = "api"
    node_ids: list[str] = msgspec.field(default_factory=list)


class CachedNode(msgspec.Struct, frozen=True):
    node_id: str
    node_type: str
    outputs: dict[str, Any]


class Begun(msgspec.Struct, frozen=True):
    """A run that has just moved from queued to running: its cached nodes, and the nodes ready
    to run at that moment."""

    cached: list[CachedNode]
    ready: list[str]


class Claim(msgspec.Struct, frozen=True):
    """A node this worker now holds: its attempt number (1 for the first) and start time."""

    attempt: int
    started_at: datetime


class NodeResult(msgspec.Struct, kw_only=True):
    status: NodeStatus
    inputs: dict[str, Any] = msgspec.field(default_factory=dict)
    outputs: dict[str, Any] = msgspec.field(default_factory=dict)
    error: str = ""
    error_detail: str = ""
    cache_key: str = ""
    usage: dict[str, Any] = msgspec.field(default_factory=dict)
    started_at: datetime
    finished_at: datetime
    duration_ms: int


class Finished(msgspec.Struct, frozen=True):
    """After a node finished: successors that became ready, nodes skipped because of it, and the
    ready successor the finishing worker claimed for itself (not listed in `ready`)."""

    ready: list[str]
    skipped: list[tuple[str, str]]
    claimed: tuple[str, Claim] | None = None
    # Other nodes of the run are still pending, so whoever finishes them closes the run.
    pending_left: bool = True


class RunOutcome(msgspec.Struct, frozen=True):
    status: RunStatus
    duration_ms: int | None
    error: str = ""


class Reclaimed(msgspec.Struct, frozen=True):
    """A node whose worker stopped renewing its lease: `status` is pending (to run again) or
    cancelled (its run was cancelled meanwhile)."""

    run_id: str
    workflow_id: str
    node_id: str
    node_type: str
    status: NodeStatus
    attempt: int


class Stalled(msgspec.Struct, frozen=True):
    """Work no worker is known to hold: a queued run to start, a ready node to run, or a run whose
    nodes are all final but that nobody closed."""

    run_id: str
    node_id: str | None
    attempt: int = 0
    kind: Literal["start", "node", "finalize"] = "node"


class RunStore(Protocol):
    """The record of runs and node runs; every state change is atomic, so any number of workers
    may act on one run at once."""

    async def snapshot(self, run_id: str) -> RunSnapshot | None:
        """The run's snapshot, or None when the run does not exist."""
        ...

    async def begin(self, run_id: str) -> Begun | None:
        """Move a queued run to running; return its cached and ready nodes, or None if it was not
        queued (or is being cancelled)."""
        ...

    async def ready(self, run_id: str) -> list[str]:
        """Pending nodes of an active run whose executed predecessors all succeeded."""
        ...

    async def claim(
        self, run_id: str, node_ids: Sequence[str], worker_id: str, lease_seconds: float
    ) -> dict[str, Claim]:
        """Take ready nodes for `worker_id` (pending → running); nodes that are not claimable
        (taken, finished, or their run is being cancelled) are left out."""
        ...

    async def outputs(self, run_id: str, node_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The outputs of finished nodes of the run (success or cached)."""
        ...

    async def release(self, run_id: str, node_id: str, worker_id: str) -> bool:
        """Give back a node `worker_id` holds but will not finish (it is stopping): pending
        again, this attempt not counted. False if the worker no longer held it."""
        ...

    async def finish(
        self,
        run_id: str,
        node_id: str,
        worker_id: str,
        result: NodeResult,
        successors: Sequence[str],
        descendants: Sequence[str],
        lease_seconds: float,
    ) -> Finished | None:
        """Record a node's result; on success count it into its successors (claiming the first
        that becomes ready for `worker_id`, as `claim` would), otherwise skip its pending
        descendants. None when the node is no longer held by `worker_id`."""
        ...

    async def finalize(self, run_id: str) -> RunOutcome | None:
        """Close the run if no node is pending or running; only one caller gets the outcome."""
        ...

    async def renew(self, worker_id: str, lease_seconds: float, held: Sequence[tuple[str, str]]) -> list[str]:
        """Extend the leases of the nodes (run id, node id) the worker is executing; return the
        ids of their runs whose cancellation was requested."""
        ...

    async def reclaim(self) -> list[Reclaimed]:
        """Release running nodes whose lease expired (their worker died)."""
        ...

    async def stalled(self, idle_seconds: float) -> list[Stalled]:
        """Queued runs and ready nodes of runs that no worker touched for `idle_seconds`."""
        ...


class Dispatcher(Protocol):
    """Hands work to any worker (the arq queue in the server)."""

    async def start_run(self, run_id: str) -> None:
        """Ask a worker to start the run."""
        ...

    async def run_nodes(self, run_id: str, nodes: Sequence[tuple[str, int]]) -> None:
        """Ask workers to run these ready nodes, given as (node id, attempts so far). Nodes may be
        grouped into jobs; a node asked for twice runs once (the second claim finds it taken)."""
        ...


class EventSink(Protocol):
    """Publishes run events; it numbers each event with the run's next sequence number."""

    async def publish(self, workflow_id: str, event: RunEvent) -> int:
        """Number `event` (its `seq` is ignored), publish it on the workflow's run channel and
        return the number it got."""
        ...

    async def publish_all(self, workflow_id: str, events: Sequence[RunEvent]) -> list[int]:
        """`publish` for several events of one run, in order, in one round trip."""
        ...
