"""The access rule on every workflow-scoped endpoint, generated from the app's route table.

A new endpoint under `{workflow_id}`, `/api/runs/{run_id}` or `/api/hooks/{hook_id}` (where the
run's or hook's workflow decides) is picked up automatically: it must declare the role it needs,
and then a non-member gets 404 and a member below that role gets 403 — by cookie and by API
token alike.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from litestar.handlers import HTTPRouteHandler
from litestar.routes import HTTPRoute

from server.app import create_app
from server.settings import Settings
from server.tables import ROLE_RANK, Role
from server.workflows.access import ROLE_OPT
from tests.support import User, assert_problem

# A valid body for every body type a workflow-scoped endpoint accepts, so a refusal can only
# come from the access rule. A new body type without an entry here fails `test_every_route_is_covered`.
SAMPLE_BODIES: dict[str, Callable[[dict[str, str]], Any]] = {
    "WorkflowRename": lambda ctx: {"name": "renamed"},
    "MemberInvite": lambda ctx: {"email": ctx["invitee_email"], "role": "viewer"},
    "MemberUpdate": lambda ctx: {"role": "viewer"},
    "RunCreate": lambda ctx: {},
    "VersionCreate": lambda ctx: {"name": "checkpoint"},
    "HookCreate": lambda ctx: {"name": "from the matrix"},
    "HookUpdate": lambda ctx: {"name": "renamed hook"},
}


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    role: Role
    body_type: str | None

    def __str__(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def not_found(self) -> str:
        if "{hook_id" in self.path:
            return "no such hook"
        return "no such run" if "{run_id" in self.path else "no such workflow"


def workflow_endpoints(settings: Settings) -> list[Endpoint]:
    endpoints = []
    for route in create_app(settings).routes:
        # The editor shell at /w/{id} is a static page that reveals nothing; data lives under /api.
        scoped = any(key in route.path for key in ("{workflow_id", "{run_id", "{hook_id"))
        if not isinstance(route, HTTPRoute) or not scoped or not route.path.startswith("/api/"):
            continue
        for handler in route.route_handlers:
            assert isinstance(handler, HTTPRouteHandler)
            role = handler.opt.get(ROLE_OPT)
            for method in sorted(handler.http_methods - {"HEAD", "OPTIONS"}):
                endpoints.append(Endpoint(method, route.path, role, _struct_name(handler)))
    return endpoints


def _struct_name(handler: HTTPRouteHandler) -> str | None:
    parameter = handler.parsed_fn_signature.parameters.get("data")
    if parameter is None:
        return None
    annotation = parameter.annotation
    while getattr(annotation, "__origin__", None) is not None and hasattr(annotation, "__metadata__"):
        annotation = annotation.__origin__
    return getattr(annotation, "__name__", str(annotation))


def test_every_route_is_covered(settings: Settings) -> None:
    endpoints = workflow_endpoints(settings)
    assert len(endpoints) >= 13
    assert {"GET /api/runs/{run_id:uuid}", "POST /api/runs/{run_id:uuid}/cancel"} <= {str(e) for e in endpoints}
    assert {"DELETE /api/hooks/{hook_id:uuid}", "GET /api/workflows/{workflow_id:uuid}/hooks"} <= {
        str(e) for e in endpoints
    }
    for endpoint in endpoints:
        assert isinstance(endpoint.role, Role), f"{endpoint} declares no {ROLE_OPT!r}"
        assert endpoint.body_type is None or endpoint.body_type in SAMPLE_BODIES, f"{endpoint}: add a sample body"


@dataclass
class World:
    owner: User
    editor: User
    viewer: User
    stranger: User
    workflow_id: str
    ctx: dict[str, str]


@pytest.fixture
def world(new_user: Callable[..., User]) -> Iterator[World]:
    owner, editor, viewer, stranger = (new_user(n) for n in ("owner", "editor", "viewer", "stranger"))
    invitee = new_user("invitee")
    workflow_id = owner.create_workflow(template="marketing-kit")["id"]
    owner.share(workflow_id, editor, "editor")
    owner.share(workflow_id, viewer, "viewer")
    # No worker serves these tests, so the run stays queued: every run route has something to act on.
    run = owner.http.post(f"/api/workflows/{workflow_id}/runs", json={})
    assert run.status_code == 202, run.text
    hook = owner.http.post(f"/api/workflows/{workflow_id}/hooks", json={"name": "matrix"})
    assert hook.status_code == 201, hook.text
    ctx = {"invitee_email": invitee.email, "member": editor.id, "run": run.json()["id"], "hook": hook.json()["id"]}
    yield World(owner, editor, viewer, stranger, workflow_id, ctx)


def _call(client: Any, endpoint: Endpoint, world: World) -> Any:
    path = endpoint.path.replace("{workflow_id:uuid}", world.workflow_id)
    path = path.replace("{user_id:uuid}", world.ctx["member"])
    path = path.replace("{run_id:uuid}", world.ctx["run"])
    path = path.replace("{hook_id:uuid}", world.ctx["hook"])
    for placeholder in ("{version_id:uuid}", "{vid:uuid}"):
        path = path.replace(placeholder, str(uuid.uuid4()))
    body = SAMPLE_BODIES[endpoint.body_type](world.ctx) if endpoint.body_type else None
    return client.request(endpoint.method, path, json=body)


def test_non_members_get_404_everywhere(settings: Settings, world: World) -> None:
    script = world.stranger.token_client()
    for endpoint in workflow_endpoints(settings):
        for client in (world.stranger.http, script):
            assert_problem(_call(client, endpoint, world), 404, endpoint.not_found)
    # and nothing changed for the members
    assert world.owner.http.get(f"/api/workflows/{world.workflow_id}").json()["name"] != "renamed"
    hooks = world.owner.http.get(f"/api/workflows/{world.workflow_id}/hooks").json()["items"]
    assert [h["name"] for h in hooks] == ["matrix"]


def test_members_below_the_role_get_403(settings: Settings, world: World) -> None:
    for endpoint in workflow_endpoints(settings):
        for member, role in ((world.viewer, Role.VIEWER), (world.editor, Role.EDITOR)):
            if ROLE_RANK[role] < ROLE_RANK[endpoint.role]:
                assert_problem(_call(member.http, endpoint, world), 403, endpoint.role.value)
    members = world.owner.http.get(f"/api/workflows/{world.workflow_id}/members").json()["items"]
    assert {m["role"] for m in members} == {"owner", "editor", "viewer"}  # no refused write went through


def test_members_with_the_role_are_let_through(settings: Settings, world: World) -> None:
    # Reads and the viewer-level actions succeed for a viewer (by cookie and by token).
    script = world.viewer.token_client()
    for endpoint in workflow_endpoints(settings):
        if endpoint.role == Role.VIEWER:
            for client in (world.viewer.http, script):
                response = _call(client, endpoint, world)
                assert response.status_code < 300, (str(endpoint), response.text)


def test_deleted_workflow_is_404_for_its_owner_too(settings: Settings, world: World) -> None:
    assert world.owner.http.delete(f"/api/workflows/{world.workflow_id}").status_code == 204
    for endpoint in workflow_endpoints(settings):
        assert_problem(_call(world.owner.http, endpoint, world), 404)


def test_malformed_workflow_ids_are_404(world: World) -> None:
    for path in ("/api/workflows/not-a-uuid", "/api/workflows/123/export", f"/api/workflows/{uuid.uuid4()}"):
        assert_problem(world.owner.http.get(path), 404)
