"""Webhook rows and their delivery log, on an asyncpg pool (the web's and the worker's alike)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
import msgspec

from server.pagination import decode_cursor, encode_cursor

_HOOK_COLUMNS = (
    "h.id, h.workflow, h.name, h.enabled, h.callback_url, h.created_at, h.rotated_at, h.previous_valid_until, "
    "u.id AS creator_id, u.name AS creator_name"
)
_LIVE = "h.deleted_at IS NULL AND w.deleted_at IS NULL"

# Everything the intake needs in one round trip: the hook, its secrets, and whether its creator
# (whom its runs act as) may still start runs of the workflow.
_INTAKE = f"""
SELECT h.id, h.workflow, h.enabled, h.callback_url, h.created_by, h.secret_encrypted,
       CASE WHEN h.previous_valid_until > now() THEN h.previous_secret_encrypted ELSE '' END AS previous,
       m.role AS creator_role
FROM webhooks h
JOIN workflows w ON w.id = h.workflow
LEFT JOIN memberships m ON m.workflow = h.workflow AND m."user" = h.created_by
WHERE h.id = $1 AND {_LIVE}
"""


class IntakeHook(msgspec.Struct, frozen=True):
    """A hook as the intake sees it; `usable` is false when it must answer 404."""

    id: UUID
    workflow_id: UUID
    creator: UUID | None
    sealed: tuple[str, ...]
    enabled: bool
    usable: bool


class Delivery(msgspec.Struct, kw_only=True):
    """One delivery log row to write."""

    webhook: UUID
    kind: str
    outcome: str
    reason: str = ""
    status_code: int = 0
    run: UUID | None = None
    address: str = ""
    idempotency_key: str | None = None
    attempt: int = 1
    latency_ms: int = 0
    received_at: datetime


class HookStore:
    """SQL of the webhooks domain."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    # --- management ------------------------------------------------------------------------

    async def create(self, workflow_id: UUID, creator: UUID, name: str, callback_url: str, sealed: str) -> UUID:
        hook_id = uuid.uuid4()
        await self.pool.execute(
            "INSERT INTO webhooks (id, workflow, created_by, name, secret_encrypted, callback_url, enabled, "
            "created_at) VALUES ($1, $2, $3, $4, $5, $6, true, now())",
            hook_id,
            workflow_id,
            creator,
            name,
            sealed,
            callback_url,
        )
        return hook_id

    async def workflow_of(self, hook_id: UUID) -> UUID | None:
        """The live workflow of a live hook, or None."""
        workflow_id: UUID | None = await self.pool.fetchval(
            f"SELECT h.workflow FROM webhooks h JOIN workflows w ON w.id = h.workflow WHERE h.id = $1 AND {_LIVE}",
            hook_id,
        )
        return workflow_id

    async def get(self, hook_id: UUID) -> asyncpg.Record | None:
        row: asyncpg.Record | None = await self.pool.fetchrow(
            f"SELECT {_HOOK_COLUMNS} FROM webhooks h JOIN workflows w ON w.id = h.workflow "
            f"LEFT JOIN users u ON u.id = h.created_by WHERE h.id = $1 AND {_LIVE}",
            hook_id,
        )
        return row

    async def of_workflow(self, workflow_id: UUID) -> list[asyncpg.Record]:
        rows: list[asyncpg.Record] = await self.pool.fetch(
            f"SELECT {_HOOK_COLUMNS} FROM webhooks h JOIN workflows w ON w.id = h.workflow "
            f"LEFT JOIN users u ON u.id = h.created_by WHERE h.workflow = $1 AND {_LIVE} "
            "ORDER BY h.created_at, h.id",
            workflow_id,
        )
        return rows

    async def update(self, hook_id: UUID, changes: dict[str, Any]) -> None:
        if not changes:
            return
        columns = list(changes)  # keys come from HookUpdate's field names, never from input
        assignments = ", ".join(f"{column} = ${index}" for index, column in enumerate(columns, start=2))
        await self.pool.execute(
            f"UPDATE webhooks SET {assignments} WHERE id = $1 AND deleted_at IS NULL",
            hook_id,
            *(changes[c] for c in columns),
        )

    async def rotate(self, hook_id: UUID, sealed: str, grace_seconds: int) -> None:
        """Make `sealed` the secret; the one it replaces verifies for `grace_seconds` more."""
        await self.pool.execute(
            "UPDATE webhooks SET previous_secret_encrypted = secret_encrypted, secret_encrypted = $2, "
            "previous_valid_until = now() + make_interval(secs => $3), rotated_at = now() "
            "WHERE id = $1 AND deleted_at IS NULL",
            hook_id,
            sealed,
            float(grace_seconds),
        )

    async def delete(self, hook_id: UUID) -> None:
        """Soft delete: the row stays for the history of its runs, its secrets do not."""
        await self.pool.execute(
            "UPDATE webhooks SET deleted_at = now(), enabled = false, secret_encrypted = '', "
            "previous_secret_encrypted = '', previous_valid_until = NULL WHERE id = $1 AND deleted_at IS NULL",
            hook_id,
        )

    # --- intake ----------------------------------------------------------------------------

    async def for_intake(self, hook_id: UUID) -> IntakeHook | None:
        row = await self.pool.fetchrow(_INTAKE, hook_id)
        if row is None:
            return None
        sealed = tuple(s for s in (row["secret_encrypted"], row["previous"]) if s)
        return IntakeHook(
            id=row["id"],
            workflow_id=row["workflow"],
            creator=row["created_by"],
            sealed=sealed,
            enabled=bool(row["enabled"]),
            usable=bool(row["enabled"]) and row["creator_role"] in ("owner", "editor") and bool(sealed),
        )

    # --- delivery log ----------------------------------------------------------------------

    async def log(self, deliveries: Sequence[Delivery]) -> None:
        """Write delivery rows in one statement."""
        if not deliveries:
            return
        await self.pool.execute(
            "INSERT INTO webhook_deliveries (id, webhook, kind, outcome, reason, status_code, run, address, "
            "idempotency_key, attempt, latency_ms, received_at) "
            "SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::int[], $7::uuid[], "
            "$8::text[], $9::text[], $10::int[], $11::int[], $12::timestamptz[])",
            [uuid.uuid4() for _ in deliveries],
            [d.webhook for d in deliveries],
            [d.kind for d in deliveries],
            [d.outcome for d in deliveries],
            [d.reason[:1000] for d in deliveries],
            [d.status_code for d in deliveries],
            [d.run for d in deliveries],
            [d.address[:64] for d in deliveries],
            [d.idempotency_key for d in deliveries],
            [d.attempt for d in deliveries],
            [d.latency_ms for d in deliveries],
            [d.received_at for d in deliveries],
        )

    async def trim(self, hook_ids: Sequence[UUID], keep: int) -> None:
        """Delete all but the newest `keep` log rows of each hook."""
        for hook_id in hook_ids:
            await self.pool.execute(
                "DELETE FROM webhook_deliveries WHERE webhook = $1 AND id IN ("
                "SELECT id FROM webhook_deliveries WHERE webhook = $1 "
                "ORDER BY received_at DESC, id DESC OFFSET $2)",
                hook_id,
                keep,
            )

    async def deliveries(
        self, hook_id: UUID, limit: int, cursor: str | None
    ) -> tuple[list[asyncpg.Record], str | None]:
        """A hook's delivery log, newest first, a page at a time."""
        sql = (
            "SELECT id, kind, outcome, reason, status_code, run, address, idempotency_key, attempt, latency_ms, "
            "received_at FROM webhook_deliveries WHERE webhook = $1"
        )
        args: list[Any] = [hook_id]
        if cursor:
            stamp, ident = decode_cursor(cursor)
            sql += " AND (received_at, id) < ($2, $3)"
            args += [stamp, ident]
        sql += f" ORDER BY received_at DESC, id DESC LIMIT {int(limit) + 1}"
        rows = await self.pool.fetch(sql, *args)
        next_cursor = (
            encode_cursor(rows[limit - 1]["received_at"], rows[limit - 1]["id"]) if len(rows) > limit else None
        )
        return list(rows[:limit]), next_cursor
