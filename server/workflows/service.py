"""Workflows, their documents and their members, always seen through a user's membership."""

from __future__ import annotations

from collections import OrderedDict
from datetime import UTC, datetime
from typing import Any, NamedTuple
from uuid import UUID

import asyncpg
from piccolo.query import Select

from collab.store import DocumentGone
from engine.graph import Graph
from engine.registry import NodeRegistry
from server.accounts.service import find_user_by_email
from server.errors import Conflict, Forbidden, NotFound
from server.pagination import decode_cursor, encode_cursor
from server.tables import ROLE_RANK, DocumentUpdate, Membership, Role, Workflow
from server.workflows import document
from server.workflows.codec import DocumentCodec, DocumentView, Edit, Rename
from server.workflows.store import PostgresDocumentStore

NOT_FOUND = "No such workflow, or you are not a member of it."


# --- access ------------------------------------------------------------------------------


async def role_of(workflow_id: UUID, user_id: UUID) -> Role | None:
    """The user's role in a live (not deleted) workflow, or None when they may not know it exists."""
    row = await (
        Membership.select(Membership.role)
        .where(
            (Membership.workflow == workflow_id)
            & (Membership.user == user_id)
            & Membership.workflow._.deleted_at.is_null()
        )
        .first()
    )
    return Role(row["role"]) if row else None


async def require_role(workflow_id: UUID, user_id: UUID, needed: Role, *, not_found: str = NOT_FOUND) -> Role:
    """The user's role, if it is at least `needed`: NotFound for non-members, Forbidden below it."""
    role = await role_of(workflow_id, user_id)
    if role is None:
        raise NotFound(not_found)
    if ROLE_RANK[role] < ROLE_RANK[needed]:
        raise Forbidden(f"This needs the {needed.value} role on the workflow; you are a {role.value}.")
    return role


# --- documents ---------------------------------------------------------------------------


async def load_parts(workflow_id: UUID) -> list[bytes]:
    """The document as stored: the snapshot and every logged update after it."""
    try:
        return await PostgresDocumentStore().load(str(workflow_id))
    except DocumentGone:
        raise NotFound(NOT_FOUND) from None


class _Stamp(NamedTuple):
    """What a stored document is at: its workflow row's version (`xmin`: any write to the row,
    compaction included) and the newest log entry."""

    row_version: str
    last_update: int | None


class _ReadCache:
    """Decoded views of small stored documents, by workflow, valid while their stamp is.

    Reading a document that nobody changed since (a workflow started by webhooks, say) then costs
    one indexed query instead of loading and decoding it. The stamp is read before the document,
    so a view is never older than the stamp it is kept under. Callers must not mutate the views.
    """

    def __init__(self, entries: int = 256) -> None:
        self.entries = entries
        self._views: OrderedDict[UUID, tuple[_Stamp, DocumentView]] = OrderedDict()

    async def read(self, workflow_id: UUID, codec: DocumentCodec) -> DocumentView:
        stamp = await _stamp(workflow_id)
        if stamp is None:
            raise NotFound(NOT_FOUND)
        cached = self._views.get(workflow_id)
        if cached is not None and cached[0] == stamp:
            self._views.move_to_end(workflow_id)
            return cached[1]
        parts = await load_parts(workflow_id)
        view = await codec.read(parts)
        if sum(len(part) for part in parts) <= codec.inline_bytes:  # large ones stay out of memory
            self._views[workflow_id] = (stamp, view)
            self._views.move_to_end(workflow_id)
            while len(self._views) > self.entries:
                self._views.popitem(last=False)
        return view


_read_cache = _ReadCache()

_STAMP = (
    "SELECT xmin::text AS row_version, (SELECT max(id) FROM document_updates WHERE workflow = $1) AS last_update "
    "FROM workflows WHERE id = $1 AND deleted_at IS NULL"
)


async def _stamp(workflow_id: UUID) -> _Stamp | None:
    """The stamp of a live workflow's stored document. Read on every run start and every read,
    so it goes to the pool the web app starts with (server/app.py) without Piccolo's query layer."""
    pool: asyncpg.Pool = Workflow._meta.db.pool  # type: ignore[attr-defined]
    row = await pool.fetchrow(_STAMP, workflow_id)
    return None if row is None else _Stamp(row["row_version"], row["last_update"])


async def read_document(workflow_id: UUID, codec: DocumentCodec, live_state: bytes | None = None) -> DocumentView:
    """The document's name and graph, decoded off the event loop when it is large.

    `live_state` is what the log may not hold yet (`Hub.unstored`, read before this: the journal
    of every process and this process's open room).
    """
    if not live_state:
        return await _read_cache.read(workflow_id, codec)
    parts = await load_parts(workflow_id)
    return await codec.read([*parts, live_state])


async def edit_document(
    workflow_id: UUID, author: UUID | None, change: Edit, codec: DocumentCodec, *, live_state: bytes | None = None
) -> bytes:
    """Apply `change` to the stored document and log the resulting update.

    The edit is made on top of `live_state` (`Hub.unstored`), so it also covers the newest
    changes of every process.

    The workflow row is locked from read to write so concurrent REST edits apply one after the
    other, and the denormalised `name` column always equals the name the document ends with.
    """
    async with Workflow._meta.db.transaction():
        await Workflow.select(Workflow.id).where(Workflow.id == workflow_id).lock_rows()
        parts = await load_parts(workflow_id)
        edited = await codec.edit([*parts, live_state] if live_state else parts, change)
        await DocumentUpdate.insert(DocumentUpdate(workflow=workflow_id, data=edited.update, author=author))
        await Workflow.update({Workflow.updated_at: datetime.now(UTC), Workflow.name: edited.name}).where(
            Workflow.id == workflow_id
        )
    return edited.update


# --- workflows ---------------------------------------------------------------------------


async def create_workflow(owner_id: UUID, name: str, graph: Graph, registry: NodeRegistry) -> UUID:
    snapshot = document.encode_state(document.new_document(graph, name, registry))
    workflow = Workflow(owner=owner_id, name=name, snapshot=snapshot)
    async with Workflow._meta.db.transaction():
        await workflow.save()
        await Membership.insert(Membership(workflow=workflow.id, user=owner_id, role=Role.OWNER))
    workflow_id: UUID = workflow.id
    return workflow_id


async def list_workflows(user_id: UUID, limit: int, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
    """The user's own and shared workflows, most recently changed first (raw SQL: keyset
    pagination on a row comparison, which Piccolo's query builder does not express)."""
    sql = (
        "SELECT w.id, w.name, m.role, w.created_at, w.updated_at, u.id AS owner_id, u.name AS owner_name "
        "FROM memberships m JOIN workflows w ON w.id = m.workflow JOIN users u ON u.id = w.owner "
        'WHERE m."user" = {} AND w.deleted_at IS NULL'
    )
    args: list[Any] = [user_id]
    if cursor:
        stamp, ident = decode_cursor(cursor)
        sql += " AND (w.updated_at, w.id) < ({}, {})"
        args += [stamp, ident]
    sql += " ORDER BY w.updated_at DESC, w.id DESC LIMIT {}"
    args.append(limit + 1)
    rows: list[dict[str, Any]] = await Workflow.raw(sql, *args)
    next_cursor = encode_cursor(rows[limit - 1]["updated_at"], rows[limit - 1]["id"]) if len(rows) > limit else None
    return rows[:limit], next_cursor


async def get_workflow(workflow_id: UUID) -> dict[str, Any]:
    row = (
        await Workflow.select(Workflow.id, Workflow.name, Workflow.owner, Workflow.created_at, Workflow.updated_at)
        .where((Workflow.id == workflow_id) & Workflow.deleted_at.is_null())
        .first()
    )
    if row is None:
        raise NotFound(NOT_FOUND)
    return row


async def rename_workflow(
    workflow_id: UUID, name: str, author: UUID, codec: DocumentCodec, live_state: bytes | None
) -> bytes:
    return await edit_document(workflow_id, author, Rename(name), codec, live_state=live_state)


async def delete_workflow(workflow_id: UUID) -> None:
    await Workflow.update({Workflow.deleted_at: datetime.now(UTC)}).where(Workflow.id == workflow_id)


# --- members -----------------------------------------------------------------------------


def _members() -> Select[Membership]:
    return Membership.select(
        Membership.user.as_alias("user_id"),
        Membership.user._.email.as_alias("email"),
        Membership.user._.name.as_alias("name"),
        Membership.role,
        Membership.created_at,
    )


async def list_members(workflow_id: UUID) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = await (
        _members()
        .where(Membership.workflow == workflow_id)
        .order_by(Membership.created_at)
        .order_by(Membership.user._.email)
    )
    return rows


async def add_member(workflow_id: UUID, email: str, role: Role) -> dict[str, Any]:
    user = await find_user_by_email(email)
    if user is None:
        raise NotFound(f"No Galaxy account uses {email.strip()!r}; ask them to sign up first.")
    try:
        await Membership.insert(Membership(workflow=workflow_id, user=user["id"], role=role))
    except asyncpg.UniqueViolationError:
        raise Conflict(f"{user['email']} is already a member of this workflow.") from None
    return await _member(workflow_id, user["id"])


async def _member(workflow_id: UUID, user_id: UUID) -> dict[str, Any]:
    member: dict[str, Any] | None = await (
        _members().where((Membership.workflow == workflow_id) & (Membership.user == user_id)).first()
    )
    if member is None:
        raise NotFound("That user is not a member of this workflow.")
    return member


async def change_role(workflow_id: UUID, user_id: UUID, role: Role) -> dict[str, Any]:
    member = await _member(workflow_id, user_id)
    if member["role"] == Role.OWNER:
        raise Conflict("The owner's role cannot be changed.")
    await Membership.update({Membership.role: role}).where(
        (Membership.workflow == workflow_id) & (Membership.user == user_id)
    )
    return await _member(workflow_id, user_id)


async def remove_member(workflow_id: UUID, user_id: UUID) -> None:
    member = await _member(workflow_id, user_id)
    if member["role"] == Role.OWNER:
        raise Conflict("The owner cannot be removed; delete the workflow instead.")
    await Membership.delete().where((Membership.workflow == workflow_id) & (Membership.user == user_id))
