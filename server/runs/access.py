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
from server.errors import NotFound
from server.runs.service import RunService
from server.tables import Role
from server.workflows import service as workflows
from server.workflows.access import ROLE_OPT

NOT_FOUND = "No such run, or you are not a member of its workflow."


class RunAccess(msgspec.Struct, frozen=True):
    """A checked run: `user` may act on `run_id` of `workflow_id` with `role`."""

    run_id: UUID
    workflow_id: UUID
    role: Role
    user: CurrentUser


async def provide_run_access(request: Request[CurrentUser, Any, Any], run_id: FromPath[UUID]) -> RunAccess:
    needed = request.route_handler.opt.get(ROLE_OPT)
    if not isinstance(needed, Role):
        raise RuntimeError(f"{request.route_handler} takes `run_access` but declares no {ROLE_OPT!r} opt")
    runs: RunService = request.app.state.runs
    workflow_id = await runs.workflow_of(run_id)
    if workflow_id is None:
        raise NotFound(NOT_FOUND)
    role = await workflows.require_role(workflow_id, request.user.id, needed, not_found=NOT_FOUND)
    return RunAccess(run_id=run_id, workflow_id=workflow_id, role=role, user=request.user)
