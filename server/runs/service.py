"""Runs seen from the web: start (validate, plan, record, queue), list, read, cancel."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg
import structlog
from redis.asyncio import Redis

from engine.events import NodeFinished, NodeStatus, RunFinished, RunStatus
from engine.graph import Graph
from engine.plan import CachedOutput, CacheLookup, Plan, Scope, ScopeError, plan_run, targets_for
from engine.registry import NodeRegistry
from engine.store import EventSink
from engine.validate import Problem, ProblemCode, validate_graph
from server.errors import Conflict, Invalid, NotFound, TooManyRequests
from server.keys import RedisKeys
from server.pagination import decode_cursor, encode_cursor
from server.ratelimit import RateLimiter
from server.runs.bus import ArqDispatcher, RedisEventSink
from server.runs.metrics import RUNS_FINISHED, RUNS_STARTED
from server.runs.schemas import Actor, NodeRunOut, RunCreate, RunDetail, RunHook, RunSummary
from server.runs.store import PostgresRunStore, decode_json, encode_json, graph_from_snapshot
from server.settings import Settings
from server.workflows import document
from server.workflows import service as workflows
from server.workflows.codec import DocumentCodec

log = structlog.get_logger(__name__)

ACTIVE_RETRY_AFTER = 5
_ALWAYS_BLOCKING = {ProblemCode.CYCLE, ProblemCode.TOO_MANY_NODES, ProblemCode.TOO_MANY_EDGES}

_SUMMARY_COLUMNS = (
    "r.id, r.workflow, r.status, r.scope, r.trigger, r.node_ids::text AS node_ids, r.error, r.created_at, "
    "r.started_at, r.finished_at, u.id AS actor_id, u.name AS actor_name, r.hook, h.name AS hook_name"
)
_SUMMARY_JOINS = "LEFT JOIN users u ON u.id = r.actor LEFT JOIN webhooks h ON h.id = r.hook"


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
        pool: asyncpg.Pool,
        redis: Redis,
        keys: RedisKeys,
        registry: NodeRegistry,
        settings: Settings,
        limiter: RateLimiter,
        codec: DocumentCodec,
        events: EventSink | None = None,
    ) -> None:
        self.codec = codec
        self.pool = pool
        self.redis = redis
        self.keys = keys
        self.registry = registry
        self.settings = settings
        self.limiter = limiter
        self.store = PostgresRunStore(pool)
        self.events: EventSink = events or RedisEventSink(redis, keys)
        self.dispatcher = ArqDispatcher(redis, keys)

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
        run_id = await self.record(workflow_id, actor, trigger, plan, request, graph, hook_id)
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
            rows = await self.pool.fetch(
                "SELECT DISTINCT ON (nr.node_id) nr.node_id, nr.cache_key, nr.outputs::text AS outputs "
                "FROM node_runs nr JOIN runs r ON r.id = nr.run "
                "WHERE r.workflow = $1 AND nr.node_id = ANY($2::text[]) AND nr.status = 'success' "
                "ORDER BY nr.node_id, nr.finished_at DESC",
                workflow_id,
                list(node_ids),
            )
            return {r["node_id"]: CachedOutput(r["cache_key"], decode_json(r["outputs"])) for r in rows}

        return lookup

    async def record(
        self,
        workflow_id: UUID,
        actor: UUID,
        trigger: str,
        plan: Plan,
        request: RunCreate,
        graph: Graph,
        hook_id: UUID | None = None,
    ) -> UUID:
        """Store a planned run and its node runs (status queued), refusing a user over their cap
        (runs started by a webhook neither count toward it nor are held to it)."""
        run_id = uuid.uuid4()
        nodes = list(plan.nodes.values())
        async with self.pool.acquire() as connection, connection.transaction():
            if hook_id is None:
                # One start at a time per user, so two concurrent requests cannot both pass the cap.
                await connection.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 7))", str(actor))
                active = await connection.fetchval(
                    "SELECT count(*) FROM runs WHERE actor = $1 AND status IN ('queued', 'running') AND hook IS NULL",
                    actor,
                )
                if active >= self.settings.max_active_runs:
                    raise TooManyRequests(
                        f"You have {active} runs in progress, the most allowed at once. "
                        "Wait for one to finish or cancel one, then start again.",
                        retry_after=ACTIVE_RETRY_AFTER,
                    )
            await connection.execute(
                "INSERT INTO runs (id, workflow, actor, trigger, scope, node_ids, inputs, graph, status, error, "
                "created_at, event_seq, hook) VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb, $8::jsonb, 'queued', "
                "'', now(), 0, $9)",
                run_id,
                workflow_id,
                actor,
                trigger,
                plan.scope.value,
                encode_json(sorted(set(request.node_ids))),
                encode_json(request.inputs),
                encode_json(document.graph_to_json(_subgraph(graph, set(plan.nodes)))),
                hook_id,
            )
            await connection.execute(
                "INSERT INTO node_runs (id, run, node_id, node_type, status, cache_key, inputs, outputs, waits_for, "
                "finished_at) SELECT id, $1, node_id, node_type, status, cache_key, inputs::jsonb, outputs::jsonb, "
                "waits_for, CASE WHEN status = 'cached' THEN now() END FROM unnest($2::uuid[], $3::text[], "
                "$4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::int[]) "
                "AS n(id, node_id, node_type, status, cache_key, inputs, outputs, waits_for)",
                run_id,
                [uuid.uuid4() for _ in nodes],
                [n.node_id for n in nodes],
                [n.node_type for n in nodes],
                ["cached" if n.cached else "pending" for n in nodes],
                [n.cache_key for n in nodes],
                [encode_json(n.inputs) for n in nodes],
                [encode_json(n.outputs) for n in nodes],
                [n.waits_for for n in nodes],
            )
        return run_id

    # --- read ----------------------------------------------------------------------------

    async def workflow_of(self, run_id: UUID) -> UUID | None:
        """The live workflow a run belongs to, or None."""
        workflow_id: UUID | None = await self.pool.fetchval(
            "SELECT r.workflow FROM runs r JOIN workflows w ON w.id = r.workflow "
            "WHERE r.id = $1 AND w.deleted_at IS NULL",
            run_id,
        )
        return workflow_id

    async def list_runs(self, workflow_id: UUID, limit: int, cursor: str | None) -> tuple[list[RunSummary], str | None]:
        """A workflow's runs, newest first."""
        sql = f"SELECT {_SUMMARY_COLUMNS} FROM runs r {_SUMMARY_JOINS} WHERE r.workflow = $1"
        args: list[Any] = [workflow_id]
        if cursor:
            stamp, ident = decode_cursor(cursor)
            sql += " AND (r.created_at, r.id) < ($2, $3)"
            args += [stamp, ident]
        sql += f" ORDER BY r.created_at DESC, r.id DESC LIMIT {int(limit) + 1}"
        rows = await self.pool.fetch(sql, *args)
        items = [RunSummary(**_summary_fields(r)) for r in rows[:limit]]
        next_cursor = encode_cursor(rows[limit - 1]["created_at"], rows[limit - 1]["id"]) if len(rows) > limit else None
        return items, next_cursor

    async def detail(self, run_id: UUID) -> RunDetail:
        """A run with every node run, its graph and its outputs (those of its leaf nodes)."""
        async with self.pool.acquire() as connection:
            row = await connection.fetchrow(
                f"SELECT {_SUMMARY_COLUMNS}, r.inputs::text AS inputs, r.graph::text AS graph "
                f"FROM runs r {_SUMMARY_JOINS} WHERE r.id = $1",
                run_id,
            )
            if row is None:
                raise NotFound("No such run, or you are not a member of its workflow.")
            node_rows = await connection.fetch(
                "SELECT node_id, node_type, status, attempt, inputs::text AS inputs, outputs::text AS outputs, error, "
                "error_detail, usage::text AS usage, started_at, finished_at, duration_ms FROM node_runs "
                "WHERE run = $1 ORDER BY node_id",
                run_id,
            )
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
            )
            for n in node_rows
        ]
        graph = graph_from_snapshot(row["graph"])
        outputs, by_label = self._outputs(graph, nodes)
        return RunDetail(
            **_summary_fields(row),
            inputs=decode_json(row["inputs"]),
            graph=decode_json(row["graph"]),
            nodes=nodes,
            outputs=outputs,
            outputs_by_label=by_label,
        )

    def _outputs(
        self, graph: Graph, nodes: list[NodeRunOut]
    ) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
        members = {n.node_id: n for n in nodes}
        adjacency = graph.adjacency()
        outputs: dict[str, dict[str, Any]] = {}
        by_label: dict[str, dict[str, Any]] = {}
        for node_id, node in members.items():
            if any(s in members for s in adjacency.successors.get(node_id, [])):
                continue
            if node.status not in (NodeStatus.SUCCESS, NodeStatus.CACHED):
                continue
            outputs[node_id] = node.outputs
            label = graph.nodes[node_id].data.get("label") if node_id in graph.nodes else None
            if isinstance(label, str) and label and label not in by_label:
                by_label[label] = node.outputs
        return outputs, by_label

    # --- cancel --------------------------------------------------------------------------

    async def cancel(self, run_id: UUID) -> None:
        """Cancel pending nodes now and ask workers to stop running ones; the run ends
        `cancelled` once none is left running."""
        async with self.pool.acquire() as connection, connection.transaction():
            row = await connection.fetchrow(
                "UPDATE runs SET cancel_requested_at = coalesce(cancel_requested_at, now()) "
                "WHERE id = $1 AND status IN ('queued', 'running') RETURNING workflow",
                run_id,
            )
            if row is None:
                status = await connection.fetchval("SELECT status FROM runs WHERE id = $1", run_id)
                raise Conflict(f"This run has already finished ({status}); there is nothing to cancel.")
            cancelled = await connection.fetch(
                "UPDATE node_runs SET status = 'cancelled', finished_at = now(), "
                "error = 'Cancelled before it started.' WHERE run = $1 AND status = 'pending' "
                "RETURNING node_id, node_type",
                run_id,
            )
        workflow_id = str(row["workflow"])
        now = datetime.now(UTC)
        for node in sorted(cancelled, key=lambda n: n["node_id"]):
            await self.events.publish(
                workflow_id,
                NodeFinished(
                    run_id=str(run_id),
                    node_id=node["node_id"],
                    node_type=node["node_type"],
                    status=NodeStatus.CANCELLED,
                    error="Cancelled before it started.",
                    at=now,
                ),
            )
        await self.redis.publish(self.keys.run_control(), str(run_id))
        outcome = await self.store.finalize(str(run_id))
        if outcome is not None:
            RUNS_FINISHED.labels(status=str(outcome.status)).inc()
            await self.events.publish(
                workflow_id,
                RunFinished(run_id=str(run_id), status=outcome.status, duration_ms=outcome.duration_ms, at=now),
            )


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
