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
from server.hooks.store import HookStore
from server.tables import Role
from server.workflows.access import access_through

NOT_FOUND = "No such hook, or you are not a member of its workflow."


class HookAccess(msgspec.Struct, frozen=True):
    """A checked hook: `user` may act on `hook_id` of `workflow_id` with `role`."""

    hook_id: UUID
    workflow_id: UUID
    role: Role
    user: CurrentUser


async def provide_hook_access(request: Request[CurrentUser, Any, Any], hook_id: FromPath[UUID]) -> HookAccess:
    hooks: HookStore = request.app.state.hooks
    access = await access_through(request, await hooks.workflow_of(hook_id), "hook_access", NOT_FOUND)
    return HookAccess(hook_id=hook_id, workflow_id=access.workflow_id, role=access.role, user=request.user)
