"""Runs seen from the web: start (validate, plan, record, queue), list, read, cancel."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import structlog

from engine.events import NodeFinished, NodeStatus, RunFinished, RunStatus
from engine.graph import Graph
from engine.plan import CachedOutput, CacheLookup, Scope, ScopeError, plan_run, targets_for
from engine.registry import NodeRegistry
from engine.validate import Problem, ProblemCode, validate_graph
from server.errors import Conflict, Invalid, NotFound, TooManyRequests
from server.pagination import decode_cursor, encode_cursor
from server.ratelimit import RateLimiter
from server.runs.bus import ArqDispatcher, RunEvents
from server.runs.metrics import RUNS_FINISHED, RUNS_STARTED
from server.runs.schemas import Actor, NodeRunOut, RunCreate, RunDetail, RunHook, RunSummary
from server.runs.store import ActiveRunsCap, AlreadyFinished, PostgresRunStore, decode_json
from server.settings import Settings
from server.workflows import document
from server.workflows import service as workflows
from server.workflows.codec import DocumentCodec
from server.workflows.format import decode_graph, graph_json

log = structlog.get_logger(__name__)

ACTIVE_RETRY_AFTER = 5
_ALWAYS_BLOCKING = {ProblemCode.CYCLE, ProblemCode.TOO_MANY_NODES, ProblemCode.TOO_MANY_EDGES}


def _duration(started: datetime | None, finished: datetime | None) -> int | None:
    return int((finished - started).total_seconds() * 1000) if started and finished else None


def _summary_fields(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "workflow_id": row["workflow"],
        "status": RunStatus(row["status"]),
        "scope": row["scope"],
        "trigger": row["trigger"],
        "actor": Actor(id=row["actor_id"], name=row["actor_name"]) if row["actor_id"] else None,
        "hook": RunHook(id=row["hook"], name=row["hook_name"] or "") if row["hook"] else None,
        "node_ids": decode_json(row["node_ids"]),
        "error": row["error"],
        "created_at": row["created_at"],
        "started_at": row["started_at"],
        "finished_at": row["finished_at"],
        "duration_ms": _duration(row["started_at"], row["finished_at"]),
    }


def workflow_inputs(graph: Graph) -> set[str]:
    """Names of the workflow's inputs: Text nodes with an input name (SPEC §5)."""
    names = set()
    for node in graph.nodes.values():
        name = node.data.get("input_name")
        if node.type == "text" and isinstance(name, str) and name:
            names.add(name)
    return names


def required_inputs(graph: Graph) -> set[str]:
    """Inputs a webhook run must fill: those whose Text node has no text of its own to fall back on."""
    names = set()
    for node in graph.nodes.values():
        name, text = node.data.get("input_name"), node.data.get("text", "")
        if node.type == "text" and isinstance(name, str) and name and not (isinstance(text, str) and text.strip()):
            names.add(name)
    return names


class RunService:
    """The runs domain for the web process; one per app, built once its pools are open."""

    def __init__(
        self,
        *,
        store: PostgresRunStore,
        events: RunEvents,
        dispatcher: ArqDispatcher,
        registry: NodeRegistry,
        settings: Settings,
        limiter: RateLimiter,
        codec: DocumentCodec,
    ) -> None:
        self.store = store
        self.events = events
        self.dispatcher = dispatcher
        self.codec = codec
        self.registry = registry
        self.settings = settings
        self.limiter = limiter

    # --- start ---------------------------------------------------------------------------

    async def start(
        self,
        workflow_id: UUID,
        actor: UUID,
        request: RunCreate,
        live_state: bytes | None = None,
        *,
        trigger: str,
        hook_id: UUID | None = None,
    ) -> UUID:
        """Validate the request against the live document, plan, record and queue the run.

        `trigger` is `editor`, `api` or `webhook`; a webhook run names its `hook_id`, must fill
        every input that has no text of its own, and is limited per hook by the caller (server/hooks)
        instead of by `actor`'s run-start rate and active-run cap.
        `live_state` is what the log may not hold yet (`Hub.unstored`: journaled edits of any
        process); the stored document is read either way.
        """
        if hook_id is None:
            await self.limiter.hit("run-start", str(actor), limit=self.settings.run_start_limit, window=60)
        if len(request.node_ids) > self.settings.max_nodes:
            raise Invalid(
                f"node_ids lists {len(request.node_ids)} nodes; a workflow has at most {self.settings.max_nodes}."
            )
        graph = (await workflows.read_document(workflow_id, self.codec, live_state)).graph
        known_inputs = workflow_inputs(graph)
        unknown = sorted(set(request.inputs) - known_inputs)
        if unknown:
            offered = ", ".join(sorted(known_inputs)) or "none (give a Text node an input name to add one)"
            raise Invalid(f"Unknown inputs: {', '.join(unknown)}. This workflow's inputs are: {offered}.")
        missing = sorted(required_inputs(graph) - set(request.inputs)) if hook_id is not None else []
        if missing:
            raise Invalid(
                f"Missing inputs: {', '.join(missing)}. Their Text nodes are empty, so a webhook run must fill them."
            )
        scope = Scope(request.scope)
        try:
            targets = targets_for(graph, scope, request.node_ids)
        except ScopeError as err:
            raise Invalid(str(err)) from None
        self._check_graph(graph, set(targets) | graph.upstream(targets))
        plan = await plan_run(graph, self.registry, scope, request.node_ids, request.inputs, self._latest(workflow_id))
        try:
            run_id = await self.store.record(
                workflow_id=workflow_id,
                actor=actor,
                trigger=trigger,
                plan=plan,
                node_ids=request.node_ids,
                inputs=request.inputs,
                graph=_subgraph(graph, set(plan.nodes)),
                max_active=None if hook_id is not None else self.settings.max_active_runs,
                hook_id=hook_id,
            )
        except ActiveRunsCap as cap:
            raise TooManyRequests(
                f"You have {cap.active} runs in progress, the most allowed at once. "
                "Wait for one to finish or cancel one, then start again.",
                retry_after=ACTIVE_RETRY_AFTER,
            ) from None
        await self.dispatcher.start_run(str(run_id))
        RUNS_STARTED.labels(trigger=trigger).inc()
        log.info("run_queued", run_id=str(run_id), workflow_id=str(workflow_id), scope=scope.value)
        return run_id

    def _check_graph(self, graph: Graph, members: set[str]) -> None:
        problems = validate_graph(
            graph,
            self.registry,
            max_nodes=self.settings.max_nodes,
            max_edges=self.settings.max_edges,
            require_inputs=True,
        )
        blocking = [p for p in problems if _blocks(p, members)]
        if blocking:
            more = f" (and {len(blocking) - 1} more problems)" if len(blocking) > 1 else ""
            raise Invalid(f"The workflow cannot run: {blocking[0].message}{more}", document.problems_as_dicts(blocking))

    def _latest(self, workflow_id: UUID) -> CacheLookup:
        """The latest successful output of each asked node of the workflow, with its cache key."""

        async def lookup(node_ids: Collection[str]) -> dict[str, CachedOutput]:
            return await self.store.latest(workflow_id, node_ids)

        return lookup

    # --- read ----------------------------------------------------------------------------

    async def workflow_of(self, run_id: UUID) -> UUID | None:
        """The live workflow a run belongs to, or None."""
        return await self.store.workflow_of(run_id)

    async def list_runs(self, workflow_id: UUID, limit: int, cursor: str | None) -> tuple[list[RunSummary], str | None]:
        """A workflow's runs, newest first."""
        rows = await self.store.summaries(workflow_id, limit + 1, decode_cursor(cursor) if cursor else None)
        items = [RunSummary(**_summary_fields(r)) for r in rows[:limit]]
        next_cursor = encode_cursor(rows[limit - 1]["created_at"], rows[limit - 1]["id"]) if len(rows) > limit else None
        return items, next_cursor

    async def detail(self, run_id: UUID) -> RunDetail:
        """A run with every node run, its graph and its outputs (those of its leaf nodes), and
        the `seq` of the last event it reflects, with the text its running nodes streamed."""
        position = await self.events.position(str(run_id))  # first: see RedisEventSink.position
        found = await self.store.run(run_id)
        if found is None:
            raise NotFound("No such run, or you are not a member of its workflow.")
        row, node_rows = found
        nodes = [
            NodeRunOut(
                node_id=n["node_id"],
                node_type=n["node_type"],
                status=NodeStatus(n["status"]),
                attempt=n["attempt"],
                inputs=decode_json(n["inputs"]),
                outputs=decode_json(n["outputs"]),
                error=n["error"],
                error_detail=n["error_detail"],
                usage=decode_json(n["usage"]),
                started_at=n["started_at"],
                finished_at=n["finished_at"],
                duration_ms=n["duration_ms"],
                streamed=position.streamed.get(n["node_id"], "") if n["status"] == NodeStatus.RUNNING else "",
            )
            for n in node_rows
        ]
        graph = decode_graph(row["graph"])
        outputs, by_label = leaf_outputs(graph, {n.node_id: (n.status, n.outputs) for n in nodes})
        return RunDetail(
            **_summary_fields(row),
            seq=position.seq,
            inputs=decode_json(row["inputs"]),
            graph=graph_json(graph),
            nodes=nodes,
            outputs=outputs,
            outputs_by_label=by_label,
        )

    # --- cancel --------------------------------------------------------------------------

    async def cancel(self, run_id: UUID) -> None:
        """Cancel pending nodes now and ask workers to stop running ones; the run ends
        `cancelled` once none is left running."""
        try:
            workflow_id, cancelled = await self.store.request_cancel(run_id)
        except AlreadyFinished as finished:
            raise Conflict(f"This run has already finished ({finished.status}); there is nothing to cancel.") from None
        now = datetime.now(UTC)
        for node_id, node_type in cancelled:
            await self.events.publish(
                workflow_id,
                NodeFinished(
                    run_id=str(run_id),
                    node_id=node_id,
                    node_type=node_type,
                    status=NodeStatus.CANCELLED,
                    error="Cancelled before it started.",
                    at=now,
                ),
            )
        await self.dispatcher.stop_run(str(run_id))
        outcome = await self.store.finalize(str(run_id))
        if outcome is not None:
            RUNS_FINISHED.labels(status=str(outcome.status)).inc()
            await self.events.publish(
                workflow_id,
                RunFinished(run_id=str(run_id), status=outcome.status, duration_ms=outcome.duration_ms, at=now),
            )


Outputs = dict[str, dict[str, Any]]


def leaf_outputs(graph: Graph, nodes: Mapping[str, tuple[NodeStatus, dict[str, Any]]]) -> tuple[Outputs, Outputs]:
    """A run's outputs (SPEC §5): those of its leaf nodes — no successor in the run — that
    succeeded or were reused, by node id and by label (the first node in id order with a label).
    `nodes`: node id → (status, outputs), in node id order."""
    adjacency = graph.adjacency()
    outputs: Outputs = {}
    by_label: Outputs = {}
    for node_id, (status, node_outputs) in nodes.items():
        if any(s in nodes for s in adjacency.successors.get(node_id, [])):
            continue
        if status not in (NodeStatus.SUCCESS, NodeStatus.CACHED):
            continue
        outputs[node_id] = node_outputs
        label = graph.nodes[node_id].data.get("label") if node_id in graph.nodes else None
        if isinstance(label, str) and label and label not in by_label:
            by_label[label] = node_outputs
    return outputs, by_label


def _subgraph(graph: Graph, members: set[str]) -> Graph:
    """The part of the graph a run executes: its nodes and the connections between them (nodes
    outside the run may hold values that were never validated for running)."""
    return Graph(
        nodes={k: v for k, v in graph.nodes.items() if k in members},
        edges={k: e for k, e in graph.edges.items() if e.source in members and e.target in members},
    )


def _blocks(problem: Problem, members: set[str]) -> bool:
    """Whether a validation problem stops a run of `members`: problems of other nodes do not."""
    if problem.code in _ALWAYS_BLOCKING or problem.node_id is None:
        return True
    return problem.node_id in members
