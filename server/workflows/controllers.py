"""`/api/workflows`: create, list, read, rename, duplicate, delete, export, import, members."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from litestar import Controller, Request, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, Parameter

from collab.hub import Hub
from engine.graph import Graph
from engine.registry import NodeRegistry
from server.accounts.auth import CurrentUser
from server.errors import BadRequest, Invalid, PayloadTooLarge
from server.media.library import MediaLibrary
from server.media.service import adopt_graph_media
from server.settings import Settings
from server.tables import Role
from server.workflows import document, service
from server.workflows.access import Access, role
from server.workflows.codec import DocumentCodec
from server.workflows.format import WorkflowFile, graph_json, workflow_file
from server.workflows.schemas import (
    MemberInvite,
    MemberList,
    MemberOut,
    MemberUpdate,
    Owner,
    WorkflowCreate,
    WorkflowDetail,
    WorkflowPage,
    WorkflowRename,
    WorkflowSummary,
)
from server.workflows.templates import TEMPLATES

VIEWER, EDITOR, OWNER = role(Role.VIEWER), role(Role.EDITOR), role(Role.OWNER)


async def _detail(
    workflow_id: UUID,
    my_role: Role,
    settings: NamedDependency[Settings],
    registry: NamedDependency[NodeRegistry],
    codec: NamedDependency[DocumentCodec],
    hub: Hub | None = None,
) -> WorkflowDetail:
    """`hub`: include edits the store may not hold yet (any process's journal)."""
    unstored = await hub.unstored(str(workflow_id)) if hub is not None else None
    row = await service.get_workflow(workflow_id)
    view = await service.read_document(workflow_id, codec, unstored)
    problems = document.check_graph(view.graph, registry, max_nodes=settings.max_nodes, max_edges=settings.max_edges)
    return WorkflowDetail(
        id=row["id"],
        name=view.name,
        role=my_role,
        owner_id=row["owner"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        graph=graph_json(view.graph),
        problems=document.problems_as_dicts(problems),
    )


class WorkflowController(Controller):
    path = "/api/workflows"
    tags = ["workflows"]

    @post("/", summary="Create a workflow (blank, or from a template)")
    async def create(
        self,
        request: Request[CurrentUser, Any, Any],
        data: JSONBody[WorkflowCreate],
        settings: NamedDependency[Settings],
        registry: NamedDependency[NodeRegistry],
        codec: NamedDependency[DocumentCodec],
        media: NamedDependency[MediaLibrary],
    ) -> WorkflowDetail:
        samples: dict[str, str] = {}
        if data.template:
            default_name, build, uses_samples = TEMPLATES[data.template]
            if uses_samples:
                samples = await media.sample_media(request.user.id)
            graph = build(samples)
        else:
            default_name, graph = "Untitled workflow", Graph(nodes={}, edges={})
        workflow_id = await service.create_workflow(request.user.id, data.name or default_name, graph, registry)
        await media.claim(list(samples.values()), workflow_id)
        return await _detail(workflow_id, Role.OWNER, settings, registry, codec)

    @get("/", summary="List your own and shared workflows, newest first")
    async def list_workflows(
        self,
        request: Request[CurrentUser, Any, Any],
        limit: Annotated[int, Parameter(ge=1, le=100)] = 20,
        cursor: Annotated[str | None, Parameter(max_length=200)] = None,
    ) -> WorkflowPage:
        rows, next_cursor = await service.list_workflows(request.user.id, limit, cursor)
        items = [
            WorkflowSummary(
                id=r["id"],
                name=r["name"],
                role=Role(r["role"]),
                owner=Owner(id=r["owner_id"], name=r["owner_name"]),
                created_at=r["created_at"],
                updated_at=r["updated_at"],
            )
            for r in rows
        ]
        return WorkflowPage(items=items, next_cursor=next_cursor)

    @post("/import", summary="Import a workflow from its JSON export (galaxy.workflow, version 1)")
    async def import_workflow(
        self,
        request: Request[CurrentUser, Any, Any],
        settings: NamedDependency[Settings],
        registry: NamedDependency[NodeRegistry],
        codec: NamedDependency[DocumentCodec],
        media: NamedDependency[MediaLibrary],
    ) -> WorkflowDetail:
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > settings.max_import_bytes:
            raise PayloadTooLarge(f"Workflow files are limited to {settings.max_import_bytes} bytes.")
        raw = await request.body()
        if len(raw) > settings.max_import_bytes:
            raise PayloadTooLarge(f"Workflow files are limited to {settings.max_import_bytes} bytes.")
        try:
            name, graph = document.parse_workflow_file(
                raw, registry, max_nodes=settings.max_nodes, max_edges=settings.max_edges
            )
        except document.UnreadableFile as err:
            raise BadRequest(str(err)) from None
        except document.DocumentError as err:
            raise Invalid(str(err), err.problems) from None
        workflow_id = await service.create_workflow(request.user.id, name, graph, registry)
        await adopt_graph_media(media.pool, graph, workflow_id, request.user.id)
        return await _detail(workflow_id, Role.OWNER, settings, registry, codec)

    @get("/{workflow_id:uuid}", opt=VIEWER, summary="A workflow with its graph (read from its live document)")
    async def get_workflow(
        self,
        access: NamedDependency[Access],
        settings: NamedDependency[Settings],
        registry: NamedDependency[NodeRegistry],
        codec: NamedDependency[DocumentCodec],
        hub: NamedDependency[Hub],
    ) -> WorkflowDetail:
        return await _detail(access.workflow_id, access.role, settings, registry, codec, hub)

    @patch("/{workflow_id:uuid}", opt=EDITOR, summary="Rename a workflow")
    async def rename(
        self,
        access: NamedDependency[Access],
        data: JSONBody[WorkflowRename],
        settings: NamedDependency[Settings],
        registry: NamedDependency[NodeRegistry],
        hub: NamedDependency[Hub],
        codec: NamedDependency[DocumentCodec],
    ) -> WorkflowDetail:
        unstored = await hub.unstored(str(access.workflow_id))
        update = await service.rename_workflow(access.workflow_id, data.name.strip(), access.user.id, codec, unstored)
        hub.apply_server_update(str(access.workflow_id), update, stored=True)
        return await _detail(access.workflow_id, access.role, settings, registry, codec, hub)

    @delete("/{workflow_id:uuid}", opt=OWNER, summary="Delete a workflow")
    async def delete_workflow(self, access: NamedDependency[Access], hub: NamedDependency[Hub]) -> None:
        await service.delete_workflow(access.workflow_id)
        await hub.control(str(access.workflow_id), {"type": "deleted"})

    @post("/{workflow_id:uuid}/duplicate", opt=VIEWER, summary="Copy a workflow into a new one you own")
    async def duplicate(
        self,
        access: NamedDependency[Access],
        settings: NamedDependency[Settings],
        registry: NamedDependency[NodeRegistry],
        codec: NamedDependency[DocumentCodec],
        hub: NamedDependency[Hub],
        media: NamedDependency[MediaLibrary],
    ) -> WorkflowDetail:
        view = await service.read_document(access.workflow_id, codec, await hub.unstored(str(access.workflow_id)))
        name = ("Copy of " + view.name)[:200]
        workflow_id = await service.create_workflow(access.user.id, name, view.graph, registry)
        await adopt_graph_media(media.pool, view.graph, workflow_id, access.user.id)
        return await _detail(workflow_id, Role.OWNER, settings, registry, codec)

    @get("/{workflow_id:uuid}/export", opt=VIEWER, summary="Export a workflow as JSON")
    async def export(
        self, access: NamedDependency[Access], codec: NamedDependency[DocumentCodec], hub: NamedDependency[Hub]
    ) -> WorkflowFile:
        view = await service.read_document(access.workflow_id, codec, await hub.unstored(str(access.workflow_id)))
        return workflow_file(view.name, view.graph)

    @get("/{workflow_id:uuid}/members", opt=VIEWER, summary="Members of a workflow and their roles")
    async def members(self, access: NamedDependency[Access]) -> MemberList:
        rows = await service.list_members(access.workflow_id)
        return MemberList(items=[MemberOut(**r) for r in rows])

    @post("/{workflow_id:uuid}/members", opt=OWNER, summary="Invite an existing user by email")
    async def invite(self, access: NamedDependency[Access], data: JSONBody[MemberInvite]) -> MemberOut:
        return MemberOut(**await service.add_member(access.workflow_id, data.email, Role(data.role)))

    @patch("/{workflow_id:uuid}/members/{user_id:uuid}", opt=OWNER, summary="Change a member's role")
    async def change_role(
        self,
        access: NamedDependency[Access],
        user_id: FromPath[UUID],
        data: JSONBody[MemberUpdate],
        hub: NamedDependency[Hub],
    ) -> MemberOut:
        member = await service.change_role(access.workflow_id, user_id, Role(data.role))
        await hub.control(str(access.workflow_id), {"type": "member", "user_id": str(user_id)})
        return MemberOut(**member)

    @delete("/{workflow_id:uuid}/members/{user_id:uuid}", opt=OWNER, summary="Remove a member")
    async def remove_member(
        self, access: NamedDependency[Access], user_id: FromPath[UUID], hub: NamedDependency[Hub]
    ) -> None:
        await service.remove_member(access.workflow_id, user_id)
        await hub.control(str(access.workflow_id), {"type": "member", "user_id": str(user_id)})
