"""`/api/workflows/{id}/runs` (start, list) and `/api/runs/{id}` (detail, cancel)."""

from __future__ import annotations

from typing import Annotated

import structlog
from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, Parameter

from collab.hub import Hub
from server.runs.access import RunAccess
from server.runs.schemas import RunCreate, RunDetail, RunPage
from server.runs.service import RunService
from server.tables import Role
from server.workflows.access import Access, role

VIEWER, EDITOR = role(Role.VIEWER), role(Role.EDITOR)


class WorkflowRunController(Controller):
    path = "/api/workflows/{workflow_id:uuid}/runs"
    tags = ["runs"]

    @post("/", opt=EDITOR, status_code=202, summary="Start a run (full, selected nodes or a single node)")
    async def start(
        self,
        access: NamedDependency[Access],
        data: JSONBody[RunCreate],
        runs: NamedDependency[RunService],
        hub: NamedDependency[Hub],
    ) -> RunDetail:
        structlog.contextvars.bind_contextvars(workflow_id=str(access.workflow_id))
        live_state = await hub.unstored(str(access.workflow_id))
        trigger = "editor" if access.user.via == "session" else "api"
        run_id = await runs.start(access.workflow_id, access.user.id, data, live_state, trigger=trigger)
        return await runs.detail(run_id)

    @get("/", opt=VIEWER, summary="Runs of a workflow, newest first")
    async def list_runs(
        self,
        access: NamedDependency[Access],
        runs: NamedDependency[RunService],
        limit: Annotated[int, Parameter(ge=1, le=100)] = 20,
        cursor: Annotated[str | None, Parameter(max_length=200)] = None,
    ) -> RunPage:
        items, next_cursor = await runs.list_runs(access.workflow_id, limit, cursor)
        return RunPage(items=items, next_cursor=next_cursor)


class RunController(Controller):
    path = "/api/runs"
    tags = ["runs"]

    @get("/{run_id:uuid}", opt=VIEWER, summary="A run with every node's status, inputs, outputs and timing")
    async def detail(self, run_access: NamedDependency[RunAccess], runs: NamedDependency[RunService]) -> RunDetail:
        return await runs.detail(run_access.run_id)

    @post("/{run_id:uuid}/cancel", opt=EDITOR, status_code=202, summary="Cancel a queued or running run")
    async def cancel(self, run_access: NamedDependency[RunAccess], runs: NamedDependency[RunService]) -> RunDetail:
        structlog.contextvars.bind_contextvars(run_id=str(run_access.run_id), workflow_id=str(run_access.workflow_id))
        await runs.cancel(run_access.run_id)
        return await runs.detail(run_access.run_id)
