"""Wires the collaboration library to Postgres (document store), Redis (bus) and memberships."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from pycrdt import Doc, merge_updates

from collab.connection import Connection
from collab.fanout import RedisBus
from collab.hub import Hub
from collab.keys import CollabKeys
from collab.room import Limits
from collab.store import DocumentGone
from server.keys import RedisKeys
from server.settings import Settings
from server.tables import ROLE_RANK, DocumentUpdate, Role, Workflow, WorkflowVersion
from server.workflows import document
from server.workflows.service import role_of

CLOSE_REMOVED = 4403
CLOSE_GONE = 4404


def _uuid(doc_id: str) -> UUID:
    try:
        return UUID(doc_id)
    except ValueError:
        raise DocumentGone(doc_id) from None


class PostgresDocumentStore:
    """Snapshot in `workflows.snapshot`, log in `document_updates`."""

    async def load(self, doc_id: str) -> list[bytes]:
        workflow_id = _uuid(doc_id)
        row = await (
            Workflow.select(Workflow.snapshot, Workflow.snapshot_seq)
            .where((Workflow.id == workflow_id) & Workflow.deleted_at.is_null())
            .first()
        )
        if row is None:
            raise DocumentGone(doc_id)
        updates = await (
            DocumentUpdate.select(DocumentUpdate.data)
            .where((DocumentUpdate.workflow == workflow_id) & (DocumentUpdate.id > row["snapshot_seq"]))
            .order_by(DocumentUpdate.id)
        )
        return [row["snapshot"], *(u["data"] for u in updates)]

    async def append(self, doc_id: str, updates: list[tuple[bytes, str | None]]) -> None:
        workflow_id = _uuid(doc_id)
        async with Workflow._meta.db.transaction():
            touched = await (
                Workflow.update({Workflow.updated_at: datetime.now(UTC)})
                .where((Workflow.id == workflow_id) & Workflow.deleted_at.is_null())
                .returning(Workflow.id)
            )
            if not touched:
                raise DocumentGone(doc_id)
            await DocumentUpdate.insert(
                *(DocumentUpdate(workflow=workflow_id, data=data, author=author) for data, author in updates)
            )

    async def append_many(self, batches: dict[str, list[tuple[bytes, str | None]]]) -> set[str]:
        ids = {}
        for doc_id in batches:
            try:
                ids[doc_id] = _uuid(doc_id)
            except DocumentGone:
                pass
        async with Workflow._meta.db.transaction():
            live = await Workflow.raw(
                "UPDATE workflows SET updated_at = now() "
                "WHERE id = ANY({}::uuid[]) AND deleted_at IS NULL RETURNING id",
                list(ids.values()),
            )
            alive = {row["id"] for row in live}
            rows = [
                (ids[doc_id], data, UUID(author) if author else None)
                for doc_id, updates in batches.items()
                if doc_id in ids and ids[doc_id] in alive
                for data, author in updates
            ]
            if rows:
                # One statement for the whole batch: this runs on the event loop that also fans
                # updates out, so the less Python work per flush, the smaller the latency tail.
                workflows, data, authors = (list(column) for column in zip(*rows, strict=True))
                await Workflow.raw(
                    "INSERT INTO document_updates (workflow, data, author, created_at) "
                    "SELECT w, d, a, now() FROM unnest({}::uuid[], {}::bytea[], {}::uuid[]) AS t(w, d, a)",
                    workflows,
                    data,
                    authors,
                )
        return {doc_id for doc_id in batches if ids.get(doc_id) not in alive}

    async def compact(self, doc_id: str) -> None:
        workflow_id = _uuid(doc_id)
        async with Workflow._meta.db.transaction():
            rows = await Workflow.raw(
                "SELECT snapshot, snapshot_seq FROM workflows WHERE id = {} FOR UPDATE", workflow_id
            )
            if not rows:
                raise DocumentGone(doc_id)
            updates = await (
                DocumentUpdate.select(DocumentUpdate.id, DocumentUpdate.data)
                .where((DocumentUpdate.workflow == workflow_id) & (DocumentUpdate.id > rows[0]["snapshot_seq"]))
                .order_by(DocumentUpdate.id)
            )
            if not updates:
                return
            merged = merge_updates(rows[0]["snapshot"], *(u["data"] for u in updates))
            doc: Doc[Any] = Doc()
            doc.apply_update(merged)
            last = updates[-1]["id"]
            await Workflow.update(
                {
                    Workflow.snapshot: doc.get_update(),
                    Workflow.snapshot_seq: last,
                    Workflow.name: (document.document_name(doc) or "Untitled workflow")[:200],
                }
            ).where(Workflow.id == workflow_id)
            await DocumentUpdate.delete().where((DocumentUpdate.workflow == workflow_id) & (DocumentUpdate.id <= last))

    async def save_version(self, doc_id: str, state: bytes, name: str, author: str | None) -> None:
        await WorkflowVersion.insert(
            WorkflowVersion(workflow=_uuid(doc_id), name=name, automatic=not name, snapshot=state, author=author)
        )


def build_hub(settings: Settings, bus: RedisBus) -> Hub:
    keys = RedisKeys(settings.redis_namespace)
    hub: Hub

    async def on_control(doc_id: str, event: dict[str, Any]) -> None:
        room = hub.rooms.get(doc_id)
        if room is None:
            return
        if event.get("type") == "deleted":
            for connection in list(room.connections.values()):
                connection.shut(CLOSE_GONE, "this workflow was deleted")
            return
        user_id = event.get("user_id")
        affected = [c for c in room.connections.values() if c.identity.user_id == user_id]
        if not affected:
            return
        role = await role_of(UUID(doc_id), UUID(str(user_id)))
        for connection in affected:
            if role is None:
                connection.shut(CLOSE_REMOVED, "you are no longer a member of this workflow")
            else:
                connection.identity.can_write = ROLE_RANK[role] >= ROLE_RANK[Role.EDITOR]

    hub = Hub(
        PostgresDocumentStore(),
        bus,
        CollabKeys(keys.collab_prefix()),
        limits=Limits(max_nodes=settings.max_nodes, max_document_bytes=settings.max_document_bytes),
        flush_interval=settings.collab_flush_interval,
        unload_after=settings.collab_unload_after,
        version_every=settings.version_every,
        text_channels=lambda doc_id: [keys.runs_channel(doc_id)],
        on_control=on_control,
        max_connection_queue=settings.ws_send_queue,
    )
    return hub


def connections_of(hub: Hub, user_id: str) -> list[Connection]:
    return [c for room in hub.rooms.values() for c in room.connections.values() if c.identity.user_id == user_id]
