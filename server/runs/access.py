"""The workflow access rule for routes under `/api/runs/{run_id}`: the run's workflow decides.

Such a route declares its least role with `opt=role(Role.X)` like a workflow route and takes the
`run_access` dependency; a caller who is not a member of the run's workflow (or asks for a run
that does not exist) gets 404, a member below the role 403.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import msgspec
from litestar import Request
from litestar.params import FromPath

from server.accounts.auth import CurrentUser
from server.runs.service import RunService
from server.tables import Role
from server.workflows.access import access_through

NOT_FOUND = "No such run, or you are not a member of its workflow."


class RunAccess(msgspec.Struct, frozen=True):
    """A checked run: `user` may act on `run_id` of `workflow_id` with `role`."""

    run_id: UUID
    workflow_id: UUID
    role: Role
    user: CurrentUser


async def provide_run_access(request: Request[CurrentUser, Any, Any], run_id: FromPath[UUID]) -> RunAccess:
    runs: RunService = request.app.state.runs
    access = await access_through(request, await runs.workflow_of(run_id), "run_access", NOT_FOUND)
    return RunAccess(run_id=run_id, workflow_id=access.workflow_id, role=access.role, user=request.user)
