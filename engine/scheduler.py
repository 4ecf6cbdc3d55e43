"""The run scheduler: starts each node as soon as its own inputs are ready.

Every worker process holds one `RunScheduler`. Work arrives as "start run R" or "run nodes N…
of run R" (from the queue); the scheduler claims the nodes in the store, executes each, records
its result, and continues *in the same task* with the successor that record claimed for it.
Other successors that became ready run alongside in this worker while it has free slots
(`local_slots`), and otherwise go back to the queue for any worker. A chain of nodes therefore
costs no queue round trip per node, and a fan-out spreads over every worker that has room. All
coordination goes through atomic store operations, so nothing depends on which worker runs
what, and a worker that dies only loses the leases of the nodes it was running.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import structlog

from engine.events import (
    NodeFinished,
    NodeProgress,
    NodeStarted,
    NodeStatus,
    RunEvent,
    RunFinished,
    RunStarted,
    RunStatus,
)
from engine.execution import RunState, finished_events, invoke
from engine.nodes.base import MediaStore, NodeFailed, NodeType, Offload, in_thread
from engine.store import Claim, Dispatcher, EventSink, Finished, NodeResult, RunSnapshot, RunStore

log = structlog.get_logger(__name__)


class SchedulerObserver:
    """Hooks for metrics; the default does nothing."""

    def run_started(self, trigger: str) -> None:
        return None

    def run_finished(self, status: RunStatus) -> None:
        return None

    def node_finished(self, node_type: str, status: NodeStatus, seconds: float | None) -> None:
        return None


def _cancelled_before_start(claim: Claim) -> NodeResult:
    return NodeResult(
        status=NodeStatus.CANCELLED,
        error="The run was cancelled as this node was starting.",
        started_at=claim.started_at,
        finished_at=_now(),
        duration_ms=0,
    )


def _now() -> datetime:
    return datetime.now(UTC)


class RunScheduler:
    """Executes nodes of runs for one worker process (see the module docstring)."""

    def __init__(
        self,
        *,
        store: RunStore,
        events: EventSink,
        dispatcher: Dispatcher,
        node_types: Mapping[str, NodeType],
        worker_id: str,
        lease_seconds: float = 30.0,
        node_timeout: float = 600.0,
        max_attempts: int = 3,
        local_slots: int = 0,
        observer: SchedulerObserver | None = None,
        media: Callable[[RunSnapshot], MediaStore] | None = None,
        offload: Offload = in_thread,
    ) -> None:
        self.store = store
        self.events = events
        self.dispatcher = dispatcher
        self.node_types = node_types
        self.worker_id = worker_id
        self.lease_seconds = lease_seconds
        self.node_timeout = node_timeout
        self.max_attempts = max_attempts
        # Ready nodes beyond the one a worker continues with run here while fewer than this many
        # nodes execute in this worker; the rest go to the queue for any worker.
        self.local_slots = local_slots
        self.observer = observer or SchedulerObserver()
        self.media = media
        self.offload = offload
        self._runs: OrderedDict[str, RunState] = OrderedDict()
        self._tasks: dict[tuple[str, str], asyncio.Task[NodeResult]] = {}
        self._cancelled: OrderedDict[str, None] = OrderedDict()

    # --- entry points (queue jobs) -------------------------------------------------------

    async def start_run(self, run_id: str) -> None:
        """Start a queued run: announce it, then execute its ready nodes.

        The announcement (`run_started` and the cached nodes) goes out with the first node's
        `node_started` when this worker runs the only ready node, in one publish; when other
        nodes are handed to other workers, it goes out before them, so no event of the run can
        precede it."""
        state = await self._state(run_id)
        if state is None:
            return
        snapshot = state.snapshot
        begun = await self.store.begin(run_id)
        announce: list[RunEvent] = []
        if begun is None:  # started before (this job is a retry): carry on with what is ready
            ready = await self.store.ready(run_id)
        else:
            self.observer.run_started(snapshot.trigger)
            announce.append(
                RunStarted(
                    run_id=run_id,
                    workflow_id=snapshot.workflow_id,
                    scope=snapshot.scope,
                    trigger=snapshot.trigger,
                    node_ids=snapshot.node_ids,
                    at=_now(),
                )
            )
            for node in begun.cached:
                state.outputs[node.node_id] = node.outputs
                announce.append(
                    NodeFinished(
                        run_id=run_id,
                        node_id=node.node_id,
                        node_type=node.node_type,
                        status=NodeStatus.CACHED,
                        outputs=node.outputs,
                        at=_now(),
                    )
                )
            ready = begun.ready
        if len(ready) != 1 and announce:
            await self.events.publish_all(snapshot.workflow_id, announce)
            announce = []
        if not ready:
            await self._finalize(state)
            return
        await self.dispatcher.run_nodes(run_id, [(node_id, 0) for node_id in ready[1:]])
        await self._run_claimed(state, ready[:1], announce)

    async def run_nodes(self, run_id: str, node_ids: Sequence[str]) -> None:
        """Execute ready nodes of a run side by side, each followed by whatever it makes ready
        (see the module docstring)."""
        state = await self._state(run_id)
        if state is not None:
            await self._run_claimed(state, node_ids)

    def cancel_local(self, run_id: str) -> None:
        """Stop this worker's running nodes of a run whose cancellation was requested."""
        self._cancelled[run_id] = None
        while len(self._cancelled) > 1024:
            self._cancelled.popitem(last=False)
        for (task_run, _), task in list(self._tasks.items()):
            if task_run == run_id:
                task.cancel()

    def running(self) -> list[tuple[str, str]]:
        """(run id, node id) of the nodes executing in this worker right now."""
        return list(self._tasks)

    async def heartbeat(self) -> None:
        """Renew this worker's leases and stop nodes of runs cancelled meanwhile."""
        for run_id in await self.store.renew(self.worker_id, self.lease_seconds, list(self._tasks)):
            self.cancel_local(run_id)

    async def reap(self, idle_seconds: float) -> None:
        """Recover work of dead workers: re-queue nodes whose lease expired, and queued runs or
        ready nodes that no worker has touched for `idle_seconds`."""
        finalize: dict[str, str] = {}
        for item in await self.store.reclaim():
            log.warning("node_reclaimed", run_id=item.run_id, node_id=item.node_id, status=item.status)
            if item.status == NodeStatus.PENDING:
                await self.dispatcher.run_nodes(item.run_id, [(item.node_id, item.attempt)])
                continue
            await self.events.publish(
                item.workflow_id,
                NodeFinished(
                    run_id=item.run_id,
                    node_id=item.node_id,
                    node_type=item.node_type,
                    status=item.status,
                    error="The run was cancelled while this node's worker was stopping.",
                    at=_now(),
                ),
            )
            finalize[item.run_id] = item.workflow_id
        for stalled in await self.store.stalled(idle_seconds):
            if stalled.kind == "start":
                await self.dispatcher.start_run(stalled.run_id)
            elif stalled.kind == "node" and stalled.node_id is not None:
                await self.dispatcher.run_nodes(stalled.run_id, [(stalled.node_id, stalled.attempt)])
            else:
                finalize[stalled.run_id] = ""
        for run_id in finalize:
            state = await self._state(run_id)
            if state is not None:
                await self._finalize(state)

    # --- internals -----------------------------------------------------------------------

    async def _state(self, run_id: str) -> RunState | None:
        state = self._runs.get(run_id)
        if state is None:
            snapshot = await self.store.snapshot(run_id)
            if snapshot is None:
                return None
            state = RunState(snapshot)
            self._runs[run_id] = state
            while len(self._runs) > 64:
                self._runs.popitem(last=False)
        else:
            self._runs.move_to_end(run_id)
        return state

    async def _run_claimed(self, state: RunState, node_ids: Sequence[str], announce: Sequence[RunEvent] = ()) -> None:
        """Claim and run nodes; `announce`: events to publish before their `node_started`."""
        snapshot = state.snapshot
        claims = await self.store.claim(snapshot.run_id, node_ids, self.worker_id, self.lease_seconds)
        if not claims:
            if announce:
                await self.events.publish_all(snapshot.workflow_id, announce)
            await self._finalize(state)
            return
        started = [self._started(state, node_id, claim) for node_id, claim in claims.items()]
        await self.events.publish_all(snapshot.workflow_id, [*announce, *started])
        chains = [self._chain(state, node_id, claim) for node_id, claim in claims.items()]
        if len(chains) == 1:
            await chains[0]
            return
        results = await asyncio.gather(*chains, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def _chain(self, state: RunState, node_id: str, claim: Claim) -> None:
        """Run a claimed node, then the successor it claimed, and so on; share the other ready
        successors out (see `_share`); close the run when this was the last of its work."""
        helpers: list[asyncio.Task[None]] = []
        held: tuple[str, Claim] | None = (node_id, claim)
        finished = None
        try:
            while held is not None:
                finished = await self._execute(state, *held)
                if finished is None:
                    break
                if finished.ready:
                    await self._share(state, finished.ready, helpers)
                held = finished.claimed
            if finished is None or not finished.pending_left:
                await self._finalize(state)
        except asyncio.CancelledError:
            for helper in helpers:  # the worker is stopping: stop the chains this one started too
                helper.cancel()
            raise
        finally:
            if helpers:
                results = await asyncio.gather(*helpers, return_exceptions=True)
                failures = [r for r in results if isinstance(r, BaseException)]
                if failures:
                    raise failures[0]

    async def _share(self, state: RunState, ready: list[str], helpers: list[asyncio.Task[None]]) -> None:
        """Run ready nodes here while this worker has free slots; queue the rest for any worker."""
        snapshot = state.snapshot
        free = max(0, self.local_slots - len(self._tasks))
        local, queued = ready[:free], ready[free:]
        if queued:
            await self.dispatcher.run_nodes(snapshot.run_id, [(n, 0) for n in queued])
        if not local:
            return
        claims = await self.store.claim(snapshot.run_id, local, self.worker_id, self.lease_seconds)
        if claims:
            await self.events.publish_all(snapshot.workflow_id, [self._started(state, n, c) for n, c in claims.items()])
            helpers.extend(asyncio.create_task(self._chain(state, n, c)) for n, c in claims.items())

    def _started(self, state: RunState, node_id: str, claim: Claim) -> NodeStarted:
        return NodeStarted(
            run_id=state.snapshot.run_id,
            node_id=node_id,
            node_type=state.snapshot.graph.nodes[node_id].type,
            attempt=claim.attempt,
            at=claim.started_at,
        )

    async def _finalize(self, state: RunState) -> None:
        snapshot = state.snapshot
        outcome = await self.store.finalize(snapshot.run_id)
        if outcome is None:
            return
        self.observer.run_finished(outcome.status)
        await self.events.publish(
            snapshot.workflow_id,
            RunFinished(
                run_id=snapshot.run_id,
                status=outcome.status,
                error=outcome.error,
                duration_ms=outcome.duration_ms,
                at=_now(),
            ),
        )

    async def _execute(self, state: RunState, node_id: str, claim: Claim) -> Finished | None:
        """Run a claimed node and record it; return what that changed (None if the node's lease
        was lost meanwhile)."""
        snapshot = state.snapshot
        run_id = snapshot.run_id
        node = snapshot.graph.nodes[node_id]
        structlog.contextvars.bind_contextvars(run_id=run_id, workflow_id=snapshot.workflow_id, node_id=node_id)
        task = asyncio.create_task(self._invoke(state, node_id, claim))
        self._tasks[(run_id, node_id)] = task
        if run_id in self._cancelled:
            task.cancel()
        current = asyncio.current_task()
        try:
            result = await task
        except asyncio.CancelledError:
            if current is None or not current.cancelling():
                # The node's task was cancelled before it began: its run is being cancelled.
                result = _cancelled_before_start(claim)
            else:
                # This worker is shutting down: stop the node and hand it back at once, rather
                # than leaving it to the reaper once its lease expires.
                task.cancel()
                await asyncio.shield(self._hand_back(run_id, node_id))
                raise
        finally:
            self._tasks.pop((run_id, node_id), None)
        if result.status == NodeStatus.CANCELLED and run_id not in self._cancelled and current and current.cancelling():
            # Cancelling this task cancelled the node's task too, which ended "cancelled"; but
            # the run was not cancelled — this worker is stopping.
            await asyncio.shield(self._hand_back(run_id, node_id))
            raise asyncio.CancelledError
        if result.status == NodeStatus.SUCCESS:
            state.outputs[node_id] = result.outputs
        descendants = [] if result.status == NodeStatus.SUCCESS else state.descendants(node_id)
        finished = await self.store.finish(
            run_id,
            node_id,
            self.worker_id,
            result,
            state.successors.get(node_id, []),
            descendants,
            self.lease_seconds,
        )
        if finished is None:
            log.warning("node_result_discarded", reason="lease lost")
            return None
        self.observer.node_finished(node.type, result.status, result.duration_ms / 1000)
        events: list[RunEvent] = list(finished_events(run_id, node_id, node.type, result, finished.skipped))
        if finished.claimed is not None:
            events.append(self._started(state, *finished.claimed))
        await self.events.publish_all(snapshot.workflow_id, events)
        return finished

    async def _hand_back(self, run_id: str, node_id: str) -> None:
        try:
            async with asyncio.timeout(2):
                if await self.store.release(run_id, node_id, self.worker_id):
                    await self.dispatcher.run_nodes(run_id, [(node_id, -1)])
        except Exception:
            log.warning("node_hand_back_failed", run_id=run_id, node_id=node_id, exc_info=True)

    async def _upstream(self, state: RunState, node_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        missing = [node_id for node_id in node_ids if node_id not in state.outputs]
        if missing:
            state.outputs.update(await self.store.outputs(state.snapshot.run_id, missing))
        return {node_id: state.outputs.get(node_id, {}) for node_id in node_ids}

    async def _invoke(self, state: RunState, node_id: str, claim: Claim) -> NodeResult:
        snapshot = state.snapshot
        node_type = self.node_types.get(snapshot.graph.nodes[node_id].type)

        async def upstream() -> dict[str, dict[str, Any]]:
            return await self._upstream(state, state.adjacency.predecessors[node_id])

        async def on_progress(delta: str, data: Mapping[str, Any] | None) -> None:
            event = NodeProgress(run_id=snapshot.run_id, node_id=node_id, delta=delta, data=dict(data or {}))
            await self.events.publish(snapshot.workflow_id, event)

        if claim.attempt > self.max_attempts:
            failure = NodeFailed(
                f"Node {node_id} was interrupted {claim.attempt - 1} times because the worker running it "
                "stopped; it was not retried again. Run it again when the workers are healthy.",
            )
        else:
            failure = None
        return await invoke(
            snapshot=snapshot,
            adjacency=state.adjacency,
            node_id=node_id,
            claim=claim,
            node_type=node_type,
            upstream=upstream,
            on_progress=on_progress,
            worker_timeout=self.node_timeout,
            media=self.media(snapshot) if self.media is not None else None,
            offload=self.offload,
            refused=failure,
        )
