"""The workflow access rule for routes under `/api/hooks/{hook_id}`: the hook's workflow decides.

Such a route declares its least role with `opt=role(Role.X)` and takes the `hook_access`
dependency; a caller who is not a member of the hook's workflow, or names a hook that does not
exist or was deleted, gets 404; a member below the role 403.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import msgspec
from litestar import Request
from litestar.params import FromPath

from server.accounts.auth import CurrentUser
from server.errors import NotFound
from server.hooks.store import HookStore
from server.tables import Role
from server.workflows import service as workflows
from server.workflows.access import ROLE_OPT

NOT_FOUND = "No such hook, or you are not a member of its workflow."


class HookAccess(msgspec.Struct, frozen=True):
    """A checked hook: `user` may act on `hook_id` of `workflow_id` with `role`."""

    hook_id: UUID
    workflow_id: UUID
    role: Role
    user: CurrentUser


async def provide_hook_access(request: Request[CurrentUser, Any, Any], hook_id: FromPath[UUID]) -> HookAccess:
    needed = request.route_handler.opt.get(ROLE_OPT)
    if not isinstance(needed, Role):
        raise RuntimeError(f"{request.route_handler} takes `hook_access` but declares no {ROLE_OPT!r} opt")
    hooks: HookStore = request.app.state.hooks
    workflow_id = await hooks.workflow_of(hook_id)
    if workflow_id is None:
        raise NotFound(NOT_FOUND)
    role = await workflows.require_role(workflow_id, request.user.id, needed, not_found=NOT_FOUND)
    return HookAccess(hook_id=hook_id, workflow_id=workflow_id, role=role, user=request.user)
