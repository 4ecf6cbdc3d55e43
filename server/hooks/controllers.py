"""Managing webhooks (`/api/workflows/{id}/hooks`, `/api/hooks/{id}`) and their intake (`/hooks/{id}`).

Owners and editors create, change, rotate and delete hooks; viewers list them and read their
delivery logs; everyone else gets 404. A secret is shown once, when it is made (create, rotate).
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

import asyncpg
import msgspec
from litestar import Controller, Request, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, Parameter
from litestar.response import Response

from server.errors import Invalid
from server.hooks.access import HookAccess
from server.hooks.addresses import Unresolvable, UnsafeUrl, check_form, resolve
from server.hooks.intake import HookIntake
from server.hooks.schemas import (
    DeliveryOut,
    DeliveryPage,
    HookCreate,
    HookCreated,
    HookList,
    HookOut,
    HookUpdate,
)
from server.hooks.secret import SecretBox, new_secret
from server.hooks.store import HookStore
from server.http_rules import PUBLIC
from server.runs.schemas import Actor
from server.settings import Settings
from server.tables import Role
from server.workflows.access import Access, role

VIEWER, EDITOR = role(Role.VIEWER), role(Role.EDITOR)


def _base(request: Request[Any, Any, Any], settings: Settings) -> str:
    return (settings.public_url or str(request.base_url)).rstrip("/")


def _out(row: asyncpg.Record, base: str) -> dict[str, Any]:
    return {
        "id": row["id"],
        "workflow_id": row["workflow"],
        "name": row["name"],
        "url": f"{base}/hooks/{row['id']}",
        "enabled": row["enabled"],
        "callback_url": row["callback_url"],
        "created_by": Actor(id=row["creator_id"], name=row["creator_name"]) if row["creator_id"] else None,
        "created_at": row["created_at"],
        "rotated_at": row["rotated_at"],
        "previous_secret_valid_until": row["previous_valid_until"],
    }


async def _checked_callback(url: str, settings: Settings) -> str:
    """A callback URL fit to store ("" for none): its form now, and where its name points when it
    resolves (it is checked again at every delivery, since DNS can change)."""
    if not url.strip():
        return ""
    http, private = settings.webhook_callback_allow_http, settings.webhook_callback_allow_private
    try:
        value = check_form(url, allow_http=http, allow_private=private)
        await resolve(value, allow_http=http, allow_private=private)
    except Unresolvable:
        pass  # not (yet) in DNS: every delivery checks it again
    except UnsafeUrl as err:
        raise Invalid(str(err)) from None
    return url.strip()


class WorkflowHookController(Controller):
    path = "/api/workflows/{workflow_id:uuid}/hooks"
    tags = ["webhooks"]

    @post("/", opt=EDITOR, status_code=201, summary="Create a webhook trigger; its secret is shown only now")
    async def create(
        self,
        request: Request[Any, Any, Any],
        access: NamedDependency[Access],
        data: JSONBody[HookCreate],
        hooks: NamedDependency[HookStore],
        box: NamedDependency[SecretBox],
        settings: NamedDependency[Settings],
    ) -> HookCreated:
        callback_url = await _checked_callback(data.callback_url, settings)
        secret = new_secret()
        hook_id = await hooks.create(access.workflow_id, access.user.id, data.name, callback_url, box.seal(secret))
        row = await hooks.get(hook_id)
        assert row is not None
        return HookCreated(**_out(row, _base(request, settings)), secret=secret)

    @get("/", opt=VIEWER, summary="Webhook triggers of a workflow (never their secrets)")
    async def list_hooks(
        self,
        request: Request[Any, Any, Any],
        access: NamedDependency[Access],
        hooks: NamedDependency[HookStore],
        settings: NamedDependency[Settings],
    ) -> HookList:
        base = _base(request, settings)
        return HookList(items=[HookOut(**_out(row, base)) for row in await hooks.of_workflow(access.workflow_id)])


class HookController(Controller):
    path = "/api/hooks"
    tags = ["webhooks"]

    @patch("/{hook_id:uuid}", opt=EDITOR, summary="Rename, enable or disable a hook, or change its callback URL")
    async def update(
        self,
        request: Request[Any, Any, Any],
        hook_access: NamedDependency[HookAccess],
        data: JSONBody[HookUpdate],
        hooks: NamedDependency[HookStore],
        settings: NamedDependency[Settings],
    ) -> HookOut:
        changes = {k: v for k, v in msgspec.structs.asdict(data).items() if v is not msgspec.UNSET}
        if "callback_url" in changes:
            changes["callback_url"] = await _checked_callback(changes["callback_url"], settings)
        await hooks.update(hook_access.hook_id, changes)
        return await _read(request, hook_access.hook_id, hooks, settings)

    @delete("/{hook_id:uuid}", opt=EDITOR, summary="Delete a hook: its URL answers 404 from now on")
    async def remove(self, hook_access: NamedDependency[HookAccess], hooks: NamedDependency[HookStore]) -> None:
        await hooks.delete(hook_access.hook_id)

    @post("/{hook_id:uuid}/rotate", opt=EDITOR, status_code=200, summary="Replace a hook's secret")
    async def rotate(
        self,
        request: Request[Any, Any, Any],
        hook_access: NamedDependency[HookAccess],
        hooks: NamedDependency[HookStore],
        box: NamedDependency[SecretBox],
        settings: NamedDependency[Settings],
    ) -> HookCreated:
        """The new secret is shown once; the old one keeps verifying for WEBHOOK_ROTATION_GRACE seconds."""
        secret = new_secret()
        await hooks.rotate(hook_access.hook_id, box.seal(secret), settings.webhook_rotation_grace)
        hook = await _read(request, hook_access.hook_id, hooks, settings)
        return HookCreated(**msgspec.structs.asdict(hook), secret=secret)

    @get("/{hook_id:uuid}/deliveries", opt=VIEWER, summary="A hook's deliveries and callbacks, newest first")
    async def deliveries(
        self,
        hook_access: NamedDependency[HookAccess],
        hooks: NamedDependency[HookStore],
        limit: Annotated[int, Parameter(ge=1, le=100)] = 20,
        cursor: Annotated[str | None, Parameter(max_length=200)] = None,
    ) -> DeliveryPage:
        rows, next_cursor = await hooks.deliveries(hook_access.hook_id, limit, cursor)
        items = [
            DeliveryOut(
                id=r["id"],
                kind=r["kind"],
                outcome=r["outcome"],
                reason=r["reason"],
                status_code=r["status_code"],
                run_id=r["run"],
                address=r["address"],
                idempotency_key=r["idempotency_key"],
                attempt=r["attempt"],
                latency_ms=r["latency_ms"],
                received_at=r["received_at"],
            )
            for r in rows
        ]
        return DeliveryPage(items=items, next_cursor=next_cursor)


async def _read(request: Request[Any, Any, Any], hook_id: UUID, hooks: HookStore, settings: Settings) -> HookOut:
    row = await hooks.get(hook_id)
    assert row is not None  # access was just checked
    return HookOut(**_out(row, _base(request, settings)))


@post(
    "/hooks/{hook_id:str}",
    opt=PUBLIC,
    request_max_body_size=None,  # WEBHOOK_MAX_BODY_BYTES, enforced while reading
    status_code=202,
    tags=["webhooks"],
    summary="Webhook intake: start a run of the hook's workflow",
    description="Authenticate with Standard Webhooks 1.0 headers (webhook-id, webhook-timestamp, "
    'webhook-signature) or \'Authorization: Bearer <hook secret>\'. Body: {"inputs": {"<name>": "<text>"}}. '
    "202 {run_id, status_url}; with ?wait=N (at most 30) the run's status and outputs once it finishes.",
)
async def receive_webhook(
    request: Request[Any, Any, Any],
    hook_id: FromPath[str],
    intake: NamedDependency[HookIntake],
    wait: Annotated[int, Parameter(ge=0, le=30, description="Seconds to wait for the run to finish")] = 0,
) -> Response[Any]:
    return await intake.receive(request, hook_id, wait)
