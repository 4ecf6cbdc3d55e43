"""`PostgresRunStore`: the engine's `RunStore` on Postgres.

Hot-path SQL runs on an asyncpg pool directly (the tables are still declared in Piccolo): each
state change is one conditional UPDATE, so any number of workers can act on one run and a
stale or duplicate actor simply matches no row. JSON travels as text and is decoded with msgspec,
whichever pool (the web's Piccolo pool or the worker's own) runs the query.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Collection, Sequence
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

import asyncpg
import msgspec

from engine.events import NodeStatus, RunStatus
from engine.graph import Graph
from engine.plan import CachedOutput, Plan
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
from server.runs import sql
from server.workflows.format import decode_graph, encode_graph

T = TypeVar("T")

_json_decode = msgspec.json.Decoder().decode


def encode_json(value: Any) -> str:
    return msgspec.json.encode(value).decode()


def decode_json(raw: Any) -> Any:
    if isinstance(raw, str | bytes):
        return _json_decode(raw)
    return raw


class ActiveRunsCap(Exception):
    """The actor already has as many queued or running runs as allowed."""

    def __init__(self, active: int) -> None:
        super().__init__(f"{active} runs in progress")
        self.active = active


class AlreadyFinished(Exception):
    """A run asked to cancel has already finished."""

    def __init__(self, status: str) -> None:
        super().__init__(status)
        self.status = status


def _by_node(row: asyncpg.Record) -> str:
    node_id: str = row["node_id"]
    return node_id


class PostgresRunStore:
    """Every run query: the engine's `RunStore` for the workers, and recording, reading and
    cancelling runs for the web process."""

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
        row = await self.pool.fetchrow(sql.SNAPSHOT, run_id)
        if row is None:
            return None
        return RunSnapshot(
            run_id=run_id,
            workflow_id=str(row["workflow"]),
            graph=decode_graph(row["graph"]),
            inputs=decode_json(row["inputs"]),
            scope=row["scope"],
            trigger=row["trigger"],
            node_ids=list(row["members"]),
        )

    async def begin(self, run_id: str) -> Begun | None:
        rows = await self.pool.fetch(sql.BEGIN, run_id)
        if not rows:
            return None
        cached = [
            CachedNode(r["node_id"], r["node_type"], decode_json(r["outputs"])) for r in rows if r["status"] == "cached"
        ]
        return Begun(cached=cached, ready=[r["node_id"] for r in rows if r["status"] == "pending"])

    async def ready(self, run_id: str) -> list[str]:
        rows = await self.pool.fetch(sql.READY, run_id)
        return [r["node_id"] for r in rows]

    async def claim(
        self, run_id: str, node_ids: Sequence[str], worker_id: str, lease_seconds: float
    ) -> dict[str, Claim]:
        rows = await self.pool.fetch(sql.CLAIM, run_id, list(node_ids), worker_id, float(lease_seconds))
        return {
            r["node_id"]: Claim(attempt=r["attempt"], started_at=r["started_at"]) for r in sorted(rows, key=_by_node)
        }

    async def release(self, run_id: str, node_id: str, worker_id: str) -> bool:
        released = await self.pool.fetchval(sql.RELEASE, run_id, node_id, worker_id)
        return released is not None

    async def outputs(self, run_id: str, node_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        rows = await self.pool.fetch(sql.OUTPUTS, run_id, list(node_ids))
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
        record = (
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
            encode_json(result.usage),
        )
        query, extra = (
            (sql.FINISH_SUCCESS, float(lease_seconds))
            if succeeded
            else (sql.FINISH_FAILURE, f"Skipped because node {node_id} did not succeed.")
        )
        row = await self._retrying(lambda connection: connection.fetchrow(query, *record, extra))
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
        row = await self.pool.fetchrow(sql.FINALIZE, run_id)
        if row is None:
            return None
        return RunOutcome(status=RunStatus(row["status"]), duration_ms=row["duration_ms"], error=row["error"])

    async def renew(self, worker_id: str, lease_seconds: float, held: Sequence[tuple[str, str]]) -> list[str]:
        if not held:
            return []
        run_ids = sorted({run_id for run_id, _ in held})
        async with self.pool.acquire() as connection:
            await connection.execute(
                sql.RENEW_LEASES,
                worker_id,
                float(lease_seconds),
                [run_id for run_id, _ in held],
                [node_id for _, node_id in held],
            )
            rows = await connection.fetch(sql.HEARTBEAT, list(run_ids))
        return [str(r["id"]) for r in rows if r["cancelled"]]

    async def reclaim(self) -> list[Reclaimed]:
        rows = await self.pool.fetch(sql.RECLAIM)
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
        rows = await self.pool.fetch(sql.STALLED, float(idle_seconds))
        return [Stalled(run_id=str(r["run"]), node_id=r["node_id"], attempt=r["attempt"], kind=r["kind"]) for r in rows]

    # --- web ---------------------------------------------------------------------------------

    async def record(
        self,
        *,
        workflow_id: UUID,
        actor: UUID,
        trigger: str,
        plan: Plan,
        node_ids: Collection[str],
        inputs: dict[str, str],
        graph: Graph,
        max_active: int | None,
        hook_id: UUID | None = None,
    ) -> UUID:
        """Store a planned run and its node runs (status queued); raise `ActiveRunsCap` when the
        actor already has `max_active` runs queued or running (None: no cap, for webhook runs)."""
        run_id = uuid.uuid4()
        nodes = list(plan.nodes.values())
        row = (
            run_id,
            workflow_id,
            actor,
            trigger,
            plan.scope.value,
            encode_json(sorted(set(node_ids))),
            encode_json(inputs),
            encode_graph(graph),
            hook_id,
            [uuid.uuid4() for _ in nodes],
            [n.node_id for n in nodes],
            [n.node_type for n in nodes],
            ["cached" if n.cached else "pending" for n in nodes],
            [n.cache_key for n in nodes],
            [encode_json(n.inputs) for n in nodes],
            [encode_json(n.outputs) for n in nodes],
            [n.waits_for for n in nodes],
        )
        if max_active is None:
            await self.pool.execute(sql.INSERT_RUN, *row)
            return run_id
        async with self.pool.acquire() as connection, connection.transaction():
            # One start at a time per actor, so two concurrent requests cannot both pass the cap.
            await connection.execute(sql.RECORD_LOCK, str(actor))
            active = await connection.fetchval(sql.ACTIVE_RUNS, actor)
            if active >= max_active:
                raise ActiveRunsCap(active)
            await connection.execute(sql.INSERT_RUN, *row)
        return run_id

    async def latest(self, workflow_id: UUID, node_ids: Collection[str]) -> dict[str, CachedOutput]:
        """The latest successful output of each of these nodes of the workflow, with its cache key."""
        rows = await self.pool.fetch(sql.LATEST_OUTPUTS, workflow_id, list(node_ids))
        return {r["node_id"]: CachedOutput(r["cache_key"], decode_json(r["outputs"])) for r in rows}

    async def status(self, run_id: UUID) -> RunStatus | None:
        status = await self.pool.fetchval(sql.RUN_STATUS, run_id)
        return RunStatus(status) if status else None

    async def workflow_of(self, run_id: UUID) -> UUID | None:
        """The live workflow a run belongs to, or None."""
        workflow_id: UUID | None = await self.pool.fetchval(sql.WORKFLOW_OF, run_id)
        return workflow_id

    async def summaries(
        self, workflow_id: UUID, limit: int, after: tuple[datetime, UUID] | None
    ) -> list[asyncpg.Record]:
        """Up to `limit` runs of a workflow, newest first, after a (created_at, id) position."""
        rows: list[asyncpg.Record] = await (
            self.pool.fetch(sql.FIRST_SUMMARIES, workflow_id, limit)
            if after is None
            else self.pool.fetch(sql.NEXT_SUMMARIES, workflow_id, limit, *after)
        )
        return rows

    async def run(self, run_id: UUID) -> tuple[asyncpg.Record, list[asyncpg.Record]] | None:
        """A run's row (summary columns, inputs, graph) and its node runs, or None."""
        async with self.pool.acquire() as connection:
            row = await connection.fetchrow(sql.RUN, run_id)
            if row is None:
                return None
            return row, await connection.fetch(sql.NODE_RUNS, run_id)

    async def request_cancel(self, run_id: UUID) -> tuple[str, list[tuple[str, str]]]:
        """Mark a run as asked to cancel and cancel its pending nodes; return its workflow and the
        (node id, node type) cancelled. Raise `AlreadyFinished` when it is no longer active."""
        async with self.pool.acquire() as connection, connection.transaction():
            row = await connection.fetchrow(sql.REQUEST_CANCEL, run_id)
            if row is None:
                raise AlreadyFinished(await connection.fetchval(sql.RUN_STATUS, run_id))
            cancelled = await connection.fetch(sql.CANCEL_PENDING, run_id)
        return str(row["workflow"]), sorted((n["node_id"], n["node_type"]) for n in cancelled)
