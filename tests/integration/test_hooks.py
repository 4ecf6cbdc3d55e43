"""Webhook triggers end to end: management, Standard Webhooks and bearer authentication,
idempotency, `?wait`, inputs, the rate limit and the delivery log — on a real server, Redis,
Postgres and an in-process worker."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.settings import Settings
from tests.integration.hooks_support import (
    body_of,
    call,
    create_hook,
    deliveries,
    path_of,
    signed_headers,
)
from tests.integration.runs_support import (
    edge,
    import_workflow,
    in_process_worker,
    node,
    node_log,
    runs_settings,
    text,
    wait_for_run,
)
from tests.support import Clients, User, assert_problem, run_server, sql

__all__ = ["node_log"]

OPTIONS: dict[str, Any] = {
    "webhook_rate_limit": 30,
    "webhook_delivery_retention": 25,
    "max_active_runs": 1,  # webhook runs are not held to it (test_the_active_run_cap_...)
}


@pytest.fixture(scope="module")
def hooks_url(settings: Settings, node_log: Path) -> Iterator[str]:
    options = runs_settings(settings, **OPTIONS)
    with run_server(options) as url, in_process_worker(options):
        yield url


@pytest.fixture
def person(clients: Clients, hooks_url: str) -> Callable[..., User]:
    return lambda name="": clients.user(hooks_url, name)


@pytest.fixture
def anon(clients: Clients, hooks_url: str) -> httpx.Client:
    return clients(hooks_url)


def _echo_workflow(owner: User) -> str:
    """topic (a required input) → sleep node labelled Result, which outputs "<topic>echo;"."""
    return import_workflow(
        owner,
        [text("topic_node", "", input_name="topic"), node("echo", "sleep", label="Result")],
        [edge("topic_node", "echo", source_handle="text")],
    )


def _runs_of_hook(settings: Settings, hook_id: str) -> list[dict[str, Any]]:
    return sql(settings.database_url, "SELECT id, trigger, actor FROM runs WHERE hook = $1", uuid.UUID(hook_id))


# --- authentication ------------------------------------------------------------------------


def test_a_signed_call_starts_a_run_as_the_hooks_creator(
    person: Callable[..., User], anon: httpx.Client, settings: Settings
) -> None:
    owner = person("owner")
    workflow_id = _echo_workflow(owner)
    hook = create_hook(owner, workflow_id, name="CRM")
    assert hook["secret"].startswith("whsec_") and hook["url"].endswith(f"/hooks/{hook['id']}")
    response = call(anon, hook, {"topic": "otters"})
    assert response.status_code == 202, response.text
    answer = response.json()
    assert answer["status"] == "queued" and answer["status_url"].endswith(f"/api/runs/{answer['run_id']}")
    run = wait_for_run(owner.http, answer["run_id"])
    assert run["status"] == "success" and run["trigger"] == "webhook"
    assert run["hook"] == {"id": hook["id"], "name": "CRM"} and run["actor"]["id"] == owner.id
    assert run["outputs_by_label"] == {"Result": {"out": "ottersecho;"}}
    listed = owner.http.get(f"/api/workflows/{workflow_id}/runs").json()["items"][0]
    assert listed["hook"] == {"id": hook["id"], "name": "CRM"}


def test_signature_refusals(person: Callable[..., User], anon: httpx.Client) -> None:
    owner = person("owner")
    hook = create_hook(owner, _echo_workflow(owner))
    body = body_of({"topic": "x"})
    other = create_hook(owner, _echo_workflow(owner))["secret"]
    now = datetime.now(UTC)
    cases = {
        "wrong secret": (body, signed_headers(other, body)),
        "tampered body": (body_of({"topic": "y"}), signed_headers(hook["secret"], body)),
        "too old": (body, signed_headers(hook["secret"], body, at=now - timedelta(minutes=6))),
        "far in the future": (body, signed_headers(hook["secret"], body, at=now + timedelta(minutes=6))),
        "missing": (body, {"webhook-id": "msg_1", "content-type": "application/json"}),
    }
    for reason, (content, headers) in cases.items():
        response = anon.post(path_of(hook), content=content, headers=headers)
        assert_problem(response, 401)
        if reason in ("too old", "far in the future", "missing"):
            assert reason in response.json()["detail"].lower(), response.text
    several = signed_headers(hook["secret"], body)
    several["webhook-signature"] = f"{signed_headers(other, body)['webhook-signature']} {several['webhook-signature']}"
    assert anon.post(path_of(hook), content=body, headers=several).status_code == 202
    logged = deliveries(owner, hook["id"], lambda items: len(items) >= 6)
    assert [d["outcome"] for d in logged].count("rejected") == 5
    assert all(d["status_code"] == 401 and d["reason"] for d in logged if d["outcome"] == "rejected")


def test_the_secret_as_a_bearer_token(person: Callable[..., User], anon: httpx.Client) -> None:
    owner = person("owner")
    hook = create_hook(owner, _echo_workflow(owner))
    body = {"inputs": {"topic": "bearer"}}
    response = anon.post(path_of(hook), json=body, headers={"authorization": f"Bearer {hook['secret']}"})
    assert response.status_code == 202, response.text
    assert wait_for_run(owner.http, response.json()["run_id"])["outputs"] == {"echo": {"out": "bearerecho;"}}
    wrong = anon.post(path_of(hook), json=body, headers={"authorization": f"Bearer {hook['secret']}x"})
    assert_problem(wrong, 401, "bearer token")
    assert_problem(anon.post(path_of(hook), json=body, headers={"authorization": "Basic abc"}), 401)


def test_a_rotated_secret_keeps_working_during_the_grace_period(
    person: Callable[..., User], anon: httpx.Client, settings: Settings
) -> None:
    owner = person("owner")
    hook = create_hook(owner, _echo_workflow(owner))
    rotated = owner.http.post(f"/api/hooks/{hook['id']}/rotate", json={})
    assert rotated.status_code == 200, rotated.text
    new = {**hook, "secret": rotated.json()["secret"]}
    assert new["secret"] != hook["secret"] and rotated.json()["previous_secret_valid_until"]
    assert call(anon, hook, {"topic": "old"}).status_code == 202
    assert call(anon, new, {"topic": "new"}).status_code == 202
    bearer = {"authorization": f"Bearer {hook['secret']}"}
    assert anon.post(path_of(hook), json={"inputs": {"topic": "x"}}, headers=bearer).status_code == 202
    # The grace period ends (moved into the past rather than waited for).
    sql(
        settings.database_url,
        "UPDATE webhooks SET previous_valid_until = now() - interval '1 second' WHERE id = $1",
        uuid.UUID(hook["id"]),
    )
    assert_problem(call(anon, hook, {"topic": "old"}), 401)
    assert_problem(anon.post(path_of(hook), json={"inputs": {"topic": "x"}}, headers=bearer), 401)
    assert call(anon, new, {"topic": "new"}).status_code == 202
    listed = owner.http.get(f"/api/workflows/{hook['workflow_id']}/hooks").json()["items"]
    assert "whsec_" not in json.dumps(listed) and listed[0]["previous_secret_valid_until"] is not None


def test_unknown_disabled_and_deleted_hooks_are_404(
    person: Callable[..., User], anon: httpx.Client, settings: Settings
) -> None:
    owner = person("owner")
    workflow_id = _echo_workflow(owner)
    hook = create_hook(owner, workflow_id)
    unknown = {**hook, "url": f"/hooks/{uuid.uuid4()}"}
    assert_problem(call(anon, unknown, {"topic": "x"}), 404, "no such webhook")
    assert_problem(anon.post("/hooks/not-a-uuid", json={}), 404, "no such webhook")
    assert owner.http.patch(f"/api/hooks/{hook['id']}", json={"enabled": False}).json()["enabled"] is False
    assert_problem(call(anon, hook, {"topic": "x"}), 404, "no such webhook")
    assert owner.http.patch(f"/api/hooks/{hook['id']}", json={"enabled": True}).status_code == 200
    assert call(anon, hook, {"topic": "x"}).status_code == 202
    assert owner.http.delete(f"/api/hooks/{hook['id']}").status_code == 204
    assert_problem(call(anon, hook, {"topic": "x"}), 404, "no such webhook")
    assert owner.http.get(f"/api/workflows/{workflow_id}/hooks").json()["items"] == []
    assert_problem(owner.http.get(f"/api/hooks/{hook['id']}/deliveries"), 404)
    assert len(_runs_of_hook(settings, hook["id"])) == 1
