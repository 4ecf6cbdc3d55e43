"""Version history: automatic and named snapshots of a workflow's document, and restore."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, Parameter

from collab.hub import Hub
from engine.registry import NodeRegistry
from server.errors import NotFound
from server.tables import Role, User, WorkflowVersion
from server.text import DISPLAY_TEXT
from server.workflows import document, service
from server.workflows.access import Access, role
from server.workflows.codec import DocumentCodec, Restore


class VersionCreate(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=DISPLAY_TEXT)]


class Author(msgspec.Struct):
    id: UUID
    name: str


class VersionOut(msgspec.Struct):
    id: UUID
    name: str
    automatic: bool
    author: Author | None
    created_at: datetime
    nodes: int
    edges: int


class VersionList(msgspec.Struct):
    items: list[VersionOut]


def _out(row: dict[str, Any]) -> VersionOut:
    author = Author(id=row["author"], name=row["author_name"]) if row["author"] else None
    return VersionOut(
        id=row["id"], name=row["name"], automatic=row["automatic"], author=author, created_at=row["created_at"],
        nodes=row["nodes"], edges=row["edges"],
    )  # fmt: skip


class VersionController(Controller):
    path = "/api/workflows/{workflow_id:uuid}/versions"
    tags = ["workflows"]

    @get("/", opt=role(Role.VIEWER), summary="Saved versions of a workflow, newest first")
    async def list_versions(
        self, access: NamedDependency[Access], limit: Annotated[int, Parameter(ge=1, le=100)] = 50
    ) -> VersionList:
        rows = await (
            WorkflowVersion.select(
                WorkflowVersion.id, WorkflowVersion.name, WorkflowVersion.automatic, WorkflowVersion.author,
                WorkflowVersion.author._.name.as_alias("author_name"), WorkflowVersion.created_at,
                WorkflowVersion.nodes, WorkflowVersion.edges,
            )
            .where(WorkflowVersion.workflow == access.workflow_id)
            .order_by(WorkflowVersion.created_at, WorkflowVersion.id, ascending=False)
            .limit(limit)
        )  # fmt: skip
        return VersionList(items=[_out(r) for r in rows])

    @post("/", opt=role(Role.EDITOR), summary="Save the current document as a named version")
    async def create_version(
        self,
        access: NamedDependency[Access],
        data: JSONBody[VersionCreate],
        hub: NamedDependency[Hub],
        codec: NamedDependency[DocumentCodec],
    ) -> VersionOut:
        # Edits of any process may not be in the log yet: the journal first, then the store.
        unstored = await hub.unstored(str(access.workflow_id))
        parts = await service.load_parts(access.workflow_id)
        current = await codec.snapshot([*parts, unstored] if unstored else parts)
        version = WorkflowVersion(
            workflow=access.workflow_id, name=data.name.strip(), automatic=False, snapshot=current.state,
            author=access.user.id, nodes=current.nodes, edges=current.edges,
        )  # fmt: skip
        await version.save()
        return _out({**version.to_dict(), "author": access.user.id, "author_name": access.user.name})

    @post("/{version_id:uuid}/restore", opt=role(Role.EDITOR), status_code=200, summary="Restore a version")
    async def restore(
        self,
        access: NamedDependency[Access],
        version_id: FromPath[UUID],
        hub: NamedDependency[Hub],
        registry: NamedDependency[NodeRegistry],
        codec: NamedDependency[DocumentCodec],
    ) -> VersionOut:
        """A restore is an ordinary edit: every collaborator receives it, and it can be undone by
        restoring another version."""
        row = await (
            WorkflowVersion.select()
            .where((WorkflowVersion.id == version_id) & (WorkflowVersion.workflow == access.workflow_id))
            .first()
        )
        if row is None:
            raise NotFound("No such version of this workflow.")
        update = await service.edit_document(
            access.workflow_id,
            access.user.id,
            Restore(snapshot=row["snapshot"], specs=document.spec_table(registry)),
            codec,
            live_state=await hub.unstored(str(access.workflow_id)),
        )
        hub.apply_server_update(str(access.workflow_id), update, stored=True)
        author = await User.select(User.name).where(User.id == row["author"]).first() if row["author"] else None
        return _out({**row, "author_name": author["name"] if author else ""})
