"""`PostgresRunStore`: the engine's `RunStore` on Postgres.

Hot-path SQL runs on an asyncpg pool directly (the tables are still declared in Piccolo): each
state change is one conditional UPDATE, so any number of workers can act on one run and a
stale or duplicate actor simply matches no row. JSON travels as text and is decoded with msgspec,
whichever pool (the web's Piccolo pool or the worker's own) runs the query.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import asyncpg
import msgspec

from engine.events import NodeStatus, RunStatus
from engine.graph import Edge, Graph, Node, Position
from engine.store import (
    CachedNode,
    Claim,
    Finished,
    NodeResult,
    Reclaimed,
    RunOutcome,
    RunSnapshot,
    Stalled,
)

T = TypeVar("T")

_json_decode = msgspec.json.Decoder().decode


def encode_json(value: Any) -> str:
    return msgspec.json.encode(value).decode()


def decode_json(raw: Any) -> Any:
    if isinstance(raw, str | bytes):
        return _json_decode(raw)
    return raw


class _SnapshotNode(msgspec.Struct):
    id: str
    type: str
    position: dict[str, float | None] = msgspec.field(default_factory=dict)
    data: dict[str, Any] = msgspec.field(default_factory=dict)


class _SnapshotEdge(msgspec.Struct):
    id: str
    source: str
    target: str
    source_handle: str = msgspec.field(name="sourceHandle")
    target_handle: str = msgspec.field(name="targetHandle")


class _SnapshotGraph(msgspec.Struct):
    nodes: list[_SnapshotNode] = msgspec.field(default_factory=list)
    edges: list[_SnapshotEdge] = msgspec.field(default_factory=list)


def graph_from_snapshot(raw: Any) -> Graph:
    """The engine graph of a run's stored snapshot (the export shape of the workflow format)."""
    text = raw if isinstance(raw, str | bytes) else msgspec.json.encode(raw)
    snapshot = msgspec.json.decode(text, type=_SnapshotGraph)
    return Graph(
        nodes={
            n.id: Node(
                id=n.id,
                type=n.type,
                position=Position(n.position.get("x") or 0.0, n.position.get("y") or 0.0),
                data=n.data,
            )
            for n in snapshot.nodes
        },
        edges={
            e.id: Edge(
                id=e.id, source=e.source, source_handle=e.source_handle, target=e.target, target_handle=e.target_handle
            )
            for e in snapshot.edges
        },
    )


_FINALIZE = """
WITH counts AS (
    SELECT count(*) FILTER (WHERE status IN ('pending', 'running')) AS open,
           count(*) FILTER (WHERE status = 'cancelled') AS cancelled,
           count(*) FILTER (WHERE status = 'failed') AS failed,
           count(*) FILTER (WHERE status = 'success') AS succeeded
    FROM node_runs WHERE run = $1
)
UPDATE runs r SET
    status = CASE
        WHEN c.cancelled > 0 THEN 'cancelled'
        WHEN c.failed > 0 AND c.succeeded > 0 THEN 'partial'
        WHEN c.failed > 0 THEN 'failed'
        ELSE 'success' END,
    finished_at = now()
FROM counts c
WHERE r.id = $1 AND r.status IN ('queued', 'running') AND c.open = 0
RETURNING r.status, r.error, (extract(epoch FROM r.finished_at - r.started_at) * 1000)::bigint AS duration_ms
"""

# One statement per finished node: record it, then (only if this worker still held it) count it
# into its successors or skip its pending descendants. Rows are locked in node id order so that
# workers finishing neighbouring nodes at once do not deadlock.
_FINISH_RECORD = """
WITH done AS (
    UPDATE node_runs SET status = $4, inputs = $5::jsonb, outputs = $6::jsonb, error = $7, error_detail = $8,
        cache_key = $9, finished_at = $10, duration_ms = $11, usage = $15::jsonb, worker = '', lease_until = NULL
    WHERE run = $1 AND node_id = $2 AND status = 'running' AND worker = $3
    RETURNING 1
), followers AS (
    SELECT id, node_id, waits_for FROM node_runs
    WHERE run = $1 AND node_id = ANY($12::text[]) AND status = 'pending' AND EXISTS (SELECT 1 FROM done)
    ORDER BY node_id FOR UPDATE
)"""

# The first successor that becomes ready is claimed for the finishing worker in the same
# statement (the next node of a chain then costs no separate claim).
_FINISH_SUCCESS = (
    _FINISH_RECORD
    + """, chosen AS (
    SELECT id FROM followers
    WHERE waits_for = 1
      AND EXISTS (SELECT 1 FROM runs WHERE id = $1 AND status = 'running' AND cancel_requested_at IS NULL)
    ORDER BY node_id LIMIT 1
), counted AS (
    UPDATE node_runs n SET
        waits_for = n.waits_for - 1,
        status = CASE WHEN n.id IN (SELECT id FROM chosen) THEN 'running' ELSE n.status END,
        worker = CASE WHEN n.id IN (SELECT id FROM chosen) THEN $3 ELSE n.worker END,
        attempt = CASE WHEN n.id IN (SELECT id FROM chosen) THEN n.attempt + 1 ELSE n.attempt END,
        started_at = CASE WHEN n.id IN (SELECT id FROM chosen) THEN now() ELSE n.started_at END,
        lease_until = CASE WHEN n.id IN (SELECT id FROM chosen)
                           THEN now() + make_interval(secs => $14) ELSE n.lease_until END
    WHERE n.id IN (SELECT id FROM followers)
    RETURNING n.node_id, n.waits_for, n.status, n.attempt, n.started_at
)
SELECT EXISTS (SELECT 1 FROM done) AS held,
       coalesce((SELECT array_agg(node_id) FROM counted WHERE waits_for = 0 AND status = 'pending'), '{}') AS ready,
       (SELECT node_id FROM counted WHERE status = 'running') AS claimed,
       (SELECT attempt FROM counted WHERE status = 'running') AS claimed_attempt,
       (SELECT started_at FROM counted WHERE status = 'running') AS claimed_at,
       EXISTS (SELECT 1 FROM node_runs WHERE run = $1 AND status = 'pending') AS pending_left,
       $13::text AS unused
"""
)

_FINISH_FAILURE = (
    _FINISH_RECORD
    + """, skipped AS (
    UPDATE node_runs SET status = 'skipped', finished_at = now(), error = $13 WHERE id IN (SELECT id FROM followers)
    RETURNING node_id, node_type
)
SELECT EXISTS (SELECT 1 FROM done) AS held,
       coalesce((SELECT array_agg(node_id ORDER BY node_id) FROM skipped), '{}') AS skipped,
       coalesce((SELECT array_agg(node_type ORDER BY node_id) FROM skipped), '{}') AS skipped_types,
       EXISTS (SELECT 1 FROM node_runs WHERE run = $1 AND status = 'pending' AND id NOT IN (SELECT id FROM followers))
           AS pending_left,
       $14::float8 AS unused
"""
)

_RECLAIM = """
UPDATE node_runs nr SET
    status = CASE WHEN r.cancel_requested_at IS NULL THEN 'pending' ELSE 'cancelled' END,
    worker = '',
    lease_until = NULL,
    finished_at = CASE WHEN r.cancel_requested_at IS NULL THEN NULL ELSE now() END,
    error = CASE WHEN r.cancel_requested_at IS NULL THEN nr.error
                 ELSE 'The run was cancelled while this node''s worker was stopping.' END
FROM runs r
WHERE r.id = nr.run AND nr.status = 'running' AND nr.lease_until < now()
RETURNING nr.run, r.workflow, nr.node_id, nr.node_type, nr.status, nr.attempt
"""

_STALLED = """
SELECT id AS run, NULL AS node_id, 0 AS attempt, 'start' AS kind FROM runs
WHERE status = 'queued' AND created_at < now() - make_interval(secs => $1)
  AND (heartbeat_at IS NULL OR heartbeat_at < now() - make_interval(secs => $1))
UNION ALL
SELECT nr.run, nr.node_id, nr.attempt, 'node' FROM node_runs nr JOIN runs r ON r.id = nr.run
WHERE r.status = 'running' AND r.cancel_requested_at IS NULL AND nr.status = 'pending' AND nr.waits_for = 0
  AND (r.heartbeat_at IS NULL OR r.heartbeat_at < now() - make_interval(secs => $1))
UNION ALL
SELECT r.id, NULL, 0, 'finalize' FROM runs r
WHERE r.status IN ('queued', 'running')
  AND (r.heartbeat_at IS NULL OR r.heartbeat_at < now() - make_interval(secs => $1))
  AND r.created_at < now() - make_interval(secs => $1)
  AND NOT EXISTS (SELECT 1 FROM node_runs nr WHERE nr.run = r.id AND nr.status IN ('pending', 'running'))
LIMIT 1000
"""


def _by_node(row: asyncpg.Record) -> str:
    node_id: str = row["node_id"]
    return node_id


class PostgresRunStore:
    """The `RunStore` of the web and worker processes."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def _retrying(self, work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        # Should rows still be locked in different orders (a node finishing while its neighbour is
        # skipped), Postgres breaks the tie by aborting one statement, which simply runs again.
        for attempt in range(5):
            try:
                async with self.pool.acquire() as connection:
                    return await work(connection)
            except asyncpg.DeadlockDetectedError:
                if attempt == 4:
                    raise
        raise AssertionError("unreachable")

    async def snapshot(self, run_id: str) -> RunSnapshot | None:
        async with self.pool.acquire() as connection:
            row = await connection.fetchrow(
                "SELECT workflow, graph::text AS graph, inputs::text AS inputs, scope, trigger FROM runs WHERE id = $1",
                run_id,
            )
            if row is None:
                return None
            members = await connection.fetch("SELECT node_id FROM node_runs WHERE run = $1 ORDER BY node_id", run_id)
        return RunSnapshot(
            run_id=run_id,
            workflow_id=str(row["workflow"]),
            graph=graph_from_snapshot(row["graph"]),
            inputs=decode_json(row["inputs"]),
            scope=row["scope"],
            trigger=row["trigger"],
            node_ids=[m["node_id"] for m in members],
        )

    async def begin(self, run_id: str) -> list[CachedNode] | None:
        async with self.pool.acquire() as connection:
            started = await connection.fetchval(
                "UPDATE runs SET status = 'running', started_at = now(), heartbeat_at = now() "
                "WHERE id = $1 AND status = 'queued' AND cancel_requested_at IS NULL RETURNING id",
                run_id,
            )
            if started is None:
                return None
            rows = await connection.fetch(
                "SELECT node_id, node_type, outputs::text AS outputs FROM node_runs "
                "WHERE run = $1 AND status = 'cached' ORDER BY node_id",
                run_id,
            )
        return [CachedNode(r["node_id"], r["node_type"], decode_json(r["outputs"])) for r in rows]

    async def ready(self, run_id: str) -> list[str]:
        rows = await self.pool.fetch(
            "SELECT nr.node_id FROM node_runs nr JOIN runs r ON r.id = nr.run "
            "WHERE nr.run = $1 AND r.status = 'running' AND nr.status = 'pending' AND nr.waits_for = 0 "
            "ORDER BY nr.node_id",
            run_id,
        )
        return [r["node_id"] for r in rows]

    async def claim(
        self, run_id: str, node_ids: Sequence[str], worker_id: str, lease_seconds: float
    ) -> dict[str, Claim]:
        rows = await self.pool.fetch(
            "UPDATE node_runs SET status = 'running', worker = $3, attempt = attempt + 1, started_at = now(), "
            "lease_until = now() + make_interval(secs => $4) WHERE id IN (SELECT id FROM node_runs "
            "WHERE run = $1 AND node_id = ANY($2::text[]) AND status = 'pending' AND waits_for = 0 AND EXISTS "
            "(SELECT 1 FROM runs WHERE id = $1 AND status = 'running' AND cancel_requested_at IS NULL) "
            "ORDER BY node_id FOR UPDATE SKIP LOCKED) RETURNING node_id, attempt, started_at",
            run_id,
            list(node_ids),
            worker_id,
            float(lease_seconds),
        )
        return {
            r["node_id"]: Claim(attempt=r["attempt"], started_at=r["started_at"]) for r in sorted(rows, key=_by_node)
        }

    async def release(self, run_id: str, node_id: str, worker_id: str) -> bool:
        released = await self.pool.fetchval(
            "UPDATE node_runs SET status = 'pending', worker = '', attempt = attempt - 1, lease_until = NULL "
            "WHERE run = $1 AND node_id = $2 AND status = 'running' AND worker = $3 RETURNING 1",
            run_id,
            node_id,
            worker_id,
        )
        return released is not None

    async def outputs(self, run_id: str, node_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        rows = await self.pool.fetch(
            "SELECT node_id, outputs::text AS outputs FROM node_runs "
            "WHERE run = $1 AND node_id = ANY($2::text[]) AND status IN ('success', 'cached')",
            run_id,
            list(node_ids),
        )
        return {r["node_id"]: decode_json(r["outputs"]) for r in rows}

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
        succeeded = result.status == NodeStatus.SUCCESS
        followers = list(successors if succeeded else descendants)
        row = await self._retrying(
            lambda connection: connection.fetchrow(
                _FINISH_SUCCESS if succeeded else _FINISH_FAILURE,
                run_id,
                node_id,
                worker_id,
                str(result.status),
                encode_json(result.inputs),
                encode_json(result.outputs),
                result.error,
                result.error_detail,
                result.cache_key,
                result.finished_at,
                result.duration_ms,
                followers,
                f"Skipped because node {node_id} did not succeed.",
                float(lease_seconds),
                encode_json(result.usage),
            )
        )
        if row is None or not row["held"]:
            return None
        if succeeded:
            claimed = None
            if row["claimed"] is not None:
                claimed = (row["claimed"], Claim(attempt=row["claimed_attempt"], started_at=row["claimed_at"]))
            return Finished(sorted(row["ready"]), [], claimed, row["pending_left"])
        skipped = sorted(zip(row["skipped"], row["skipped_types"], strict=True))
        return Finished([], skipped, None, row["pending_left"])

    async def finalize(self, run_id: str) -> RunOutcome | None:
        row = await self.pool.fetchrow(_FINALIZE, run_id)
        if row is None:
            return None
        return RunOutcome(status=RunStatus(row["status"]), duration_ms=row["duration_ms"], error=row["error"])

    async def renew(self, worker_id: str, lease_seconds: float, held: Sequence[tuple[str, str]]) -> list[str]:
        if not held:
            return []
        run_ids = sorted({run_id for run_id, _ in held})
        async with self.pool.acquire() as connection:
            await connection.execute(
                "UPDATE node_runs nr SET lease_until = now() + make_interval(secs => $2) "
                "FROM unnest($3::uuid[], $4::text[]) AS h(run, node_id) "
                "WHERE nr.run = h.run AND nr.node_id = h.node_id AND nr.worker = $1 AND nr.status = 'running'",
                worker_id,
                float(lease_seconds),
                [run_id for run_id, _ in held],
                [node_id for _, node_id in held],
            )
            rows = await connection.fetch(
                "UPDATE runs SET heartbeat_at = now() WHERE id = ANY($1::uuid[]) "
                "RETURNING id, cancel_requested_at IS NOT NULL AS cancelled",
                list(run_ids),
            )
        return [str(r["id"]) for r in rows if r["cancelled"]]

    async def reclaim(self) -> list[Reclaimed]:
        rows = await self.pool.fetch(_RECLAIM)
        return [
            Reclaimed(
                run_id=str(r["run"]),
                workflow_id=str(r["workflow"]),
                node_id=r["node_id"],
                node_type=r["node_type"],
                status=NodeStatus(r["status"]),
                attempt=r["attempt"],
            )
            for r in rows
        ]

    async def stalled(self, idle_seconds: float) -> list[Stalled]:
        rows = await self.pool.fetch(_STALLED, float(idle_seconds))
        return [Stalled(run_id=str(r["run"]), node_id=r["node_id"], attempt=r["attempt"], kind=r["kind"]) for r in rows]
