"""The workflow access rule, applied to every workflow-scoped route.

A route declares the least role it needs with `opt={"workflow_role": Role.X}` and takes the
`access` dependency. A caller who is not a member gets 404 (they must not learn the workflow
exists); a member below the needed role gets 403.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import msgspec
from litestar import Request
from litestar.params import FromPath

from server.accounts.auth import CurrentUser
from server.errors import NotFound
from server.tables import Role
from server.workflows import service

ROLE_OPT = "workflow_role"


class Access(msgspec.Struct, frozen=True):
    """A checked membership: `user` may act on `workflow_id` with `role`."""

    workflow_id: UUID
    role: Role
    user: CurrentUser


def needed_role(request: Request[CurrentUser, Any, Any], dependency: str) -> Role:
    """The least role the route declares (a route taking an access dependency must declare one)."""
    needed = request.route_handler.opt.get(ROLE_OPT)
    if not isinstance(needed, Role):
        raise RuntimeError(f"{request.route_handler} takes `{dependency}` but declares no {ROLE_OPT!r} opt")
    return needed


async def access_through(
    request: Request[CurrentUser, Any, Any], workflow_id: UUID | None, dependency: str, not_found: str
) -> Access:
    """The access rule for a thing that belongs to a workflow (a run, a hook): the workflow it
    belongs to decides; a thing that does not exist (`workflow_id` None) is as unknown as a
    workflow the caller is not a member of."""
    needed = needed_role(request, dependency)
    if workflow_id is None:
        raise NotFound(not_found)
    role = await service.require_role(workflow_id, request.user.id, needed, not_found=not_found)
    return Access(workflow_id=workflow_id, role=role, user=request.user)


async def provide_access(request: Request[CurrentUser, Any, Any], workflow_id: FromPath[UUID]) -> Access:
    role = await service.require_role(workflow_id, request.user.id, needed_role(request, "access"))
    return Access(workflow_id=workflow_id, role=role, user=request.user)


def role(needed: Role) -> dict[str, Any]:
    """Route `opt` declaring the least role a workflow-scoped route needs."""
    return {ROLE_OPT: needed}
