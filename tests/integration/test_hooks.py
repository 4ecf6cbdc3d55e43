"""Webhook intake end to end: Standard Webhooks and bearer authentication, idempotency, `?wait`,
inputs and the rate limit — on a real server, Redis, Postgres and an in-process worker
(`hooks_url`). Managing hooks and their delivery log: test_hook_management.py."""

from __future__ import annotations

import concurrent.futures
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from server.settings import Settings
from tests.integration.hooks_support import (
    body_of,
    call,
    create_hook,
    deliveries,
    echo_workflow,
    path_of,
    signed_headers,
)
from tests.integration.runs_support import (
    edge,
    import_workflow,
    node,
    start_run,
    text,
    wait_for_run,
)
from tests.support import Clients, User, assert_problem, sql


@pytest.fixture
def person(clients: Clients, hooks_url: str) -> Callable[..., User]:
    return lambda name="": clients.user(hooks_url, name)


@pytest.fixture
def anon(clients: Clients, hooks_url: str) -> httpx.Client:
    return clients(hooks_url)


def _runs_of_hook(settings: Settings, hook_id: str) -> list[dict[str, Any]]:
    return sql(settings.database_url, "SELECT id, trigger, actor FROM runs WHERE hook = $1", uuid.UUID(hook_id))


# --- authentication ------------------------------------------------------------------------


def test_a_signed_call_starts_a_run_as_the_hooks_creator(
    person: Callable[..., User], anon: httpx.Client, settings: Settings
) -> None:
    owner = person("owner")
    workflow_id = echo_workflow(owner)
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
    hook = create_hook(owner, echo_workflow(owner))
    body = body_of({"topic": "x"})
    other = create_hook(owner, echo_workflow(owner))["secret"]
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
    hook = create_hook(owner, echo_workflow(owner))
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
    hook = create_hook(owner, echo_workflow(owner))
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
    workflow_id = echo_workflow(owner)
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


# --- idempotency ---------------------------------------------------------------------------


def test_twenty_simultaneous_deliveries_of_one_message_start_one_run(
    person: Callable[..., User], clients: Clients, hooks_url: str, settings: Settings
) -> None:
    owner = person("owner")
    hook = create_hook(owner, echo_workflow(owner))
    body = body_of({"topic": "once"})
    headers = signed_headers(hook["secret"], body, msg_id="msg_twenty")
    senders = [clients(hooks_url) for _ in range(20)]
    with concurrent.futures.ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(lambda c: c.post(path_of(hook), content=body, headers=headers), senders))
    assert sorted(a.status_code for a in answers) == [200] * 19 + [202], [a.text for a in answers]
    assert len({a.json()["run_id"] for a in answers}) == 1
    assert sum(a.json()["duplicate"] for a in answers) == 19
    assert len(_runs_of_hook(settings, hook["id"])) == 1
    # Another message id is another run; a later repeat of the first is still the first run.
    again = senders[0].post(path_of(hook), content=body, headers=signed_headers(hook["secret"], body, "msg_twenty"))
    assert again.status_code == 200 and again.json()["run_id"] == answers[0].json()["run_id"]
    other = senders[0].post(path_of(hook), content=body, headers=signed_headers(hook["secret"], body, "msg_other"))
    assert other.status_code == 202 and other.json()["run_id"] != answers[0].json()["run_id"]
    assert len(_runs_of_hook(settings, hook["id"])) == 2
    logged = deliveries(owner, hook["id"], lambda items: len(items) == 22)
    assert sorted(d["outcome"] for d in logged).count("duplicate") == 20


def test_bearer_callers_use_an_idempotency_key(
    person: Callable[..., User], anon: httpx.Client, settings: Settings
) -> None:
    owner = person("owner")
    hook = create_hook(owner, echo_workflow(owner))
    headers = {"authorization": f"Bearer {hook['secret']}", "idempotency-key": "order-1234"}
    first = anon.post(path_of(hook), json={"inputs": {"topic": "a"}}, headers=headers)
    second = anon.post(path_of(hook), json={"inputs": {"topic": "a"}}, headers=headers)
    assert (first.status_code, second.status_code) == (202, 200)
    assert first.json()["run_id"] == second.json()["run_id"] and second.json()["duplicate"] is True
    unkeyed = {"authorization": f"Bearer {hook['secret']}"}
    assert anon.post(path_of(hook), json={"inputs": {"topic": "a"}}, headers=unkeyed).status_code == 202
    assert len(_runs_of_hook(settings, hook["id"])) == 2


def test_a_refused_delivery_does_not_use_up_its_id(person: Callable[..., User], anon: httpx.Client) -> None:
    owner = person("owner")
    hook = create_hook(owner, echo_workflow(owner))
    assert_problem(call(anon, hook, {}, msg_id="msg_retry"), 422, "topic")
    assert call(anon, hook, {"topic": "fixed"}, msg_id="msg_retry").status_code == 202


# --- ?wait ---------------------------------------------------------------------------------


def test_wait_returns_the_outputs_of_a_finished_run(person: Callable[..., User], anon: httpx.Client) -> None:
    owner = person("owner")
    workflow_id = import_workflow(
        owner,
        [
            text("topic_node", "", input_name="topic"),
            node("first", "sleep", seconds=0.2),
            node("second", "sleep", label="Answer"),
        ],
        [edge("topic_node", "first", source_handle="text"), edge("first", "second")],
    )
    hook = create_hook(owner, workflow_id)
    response = call(anon, hook, {"topic": "waited:"}, wait=20, msg_id="msg_waited")
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["status"] == "success" and result["errors"] == []
    assert result["outputs"] == {"second": {"out": "waited:first;second;"}}
    assert result["outputs_by_label"] == {"Answer": {"out": "waited:first;second;"}}
    assert result["duration_ms"] is not None
    assert {n["node_id"] for n in result["nodes"]} == {"topic_node", "first", "second"}
    # A repeat of the delivery returns the same (finished) run.
    repeat = call(anon, hook, {"topic": "waited:"}, wait=5, msg_id="msg_waited")
    assert repeat.status_code == 200 and repeat.json() == result


def test_wait_gives_up_with_202_while_the_run_goes_on(person: Callable[..., User], anon: httpx.Client) -> None:
    owner = person("owner")
    workflow_id = import_workflow(owner, [node("long", "sleep", seconds=3)], [])
    hook = create_hook(owner, workflow_id)
    response = call(anon, hook, wait=1)
    assert response.status_code == 202, response.text
    assert response.json()["status"] in ("queued", "running")
    assert wait_for_run(owner.http, response.json()["run_id"])["status"] == "success"


def test_wait_reports_a_failed_nodes_error(person: Callable[..., User], anon: httpx.Client) -> None:
    owner = person("owner")
    workflow_id = import_workflow(
        owner, [node("bad", "fail", label="Broken"), node("after", "sleep")], [edge("bad", "after")]
    )
    hook = create_hook(owner, workflow_id)
    response = call(anon, hook, wait=20)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["status"] == "failed" and result["outputs"] == {}
    assert result["errors"] == [
        {"node_id": "bad", "node_type": "fail", "label": "Broken", "error": "Node bad failed on purpose."}
    ]
    assert_problem(anon.post(path_of(hook), params={"wait": 31}, json={}), 400)


# --- inputs and refusals -------------------------------------------------------------------


def test_inputs_fill_named_text_nodes_and_every_mistake_is_named(
    person: Callable[..., User], anon: httpx.Client, settings: Settings
) -> None:
    owner = person("owner")
    workflow_id = import_workflow(
        owner,
        [
            text("topic_node", "", input_name="topic"),
            text("tone_node", "plain", input_name="tone"),
            node("join", "concat", label="Both"),
        ],
        [edge("topic_node", "join", "parts", "text"), edge("tone_node", "join", "parts", "text")],
    )
    hook = create_hook(owner, workflow_id)
    result = call(anon, hook, {"topic": "kites"}, wait=20).json()
    assert result["outputs_by_label"]["Both"]["out"] in ("kites+plain", "plain+kites")
    result = call(anon, hook, {"topic": "kites", "tone": "loud"}, wait=20).json()
    assert sorted(result["outputs_by_label"]["Both"]["out"].split("+")) == ["kites", "loud"]
    assert_problem(call(anon, hook, {"topic": "x", "colour": "red"}), 422, "unknown inputs: colour", "tone, topic")
    assert_problem(call(anon, hook, {"topic": 3, "tone": None}), 422, "topic (number)", "tone (null)")
    assert_problem(call(anon, hook, {"tone": "loud"}), 422, "missing inputs: topic")
    path = path_of(hook)

    def send(content: bytes, content_type: str = "application/json") -> httpx.Response:
        headers = signed_headers(hook["secret"], content)
        headers["content-type"] = content_type
        return anon.post(path, content=content, headers=headers)

    assert_problem(send(b"{not json"), 400, "not valid json")
    assert_problem(send(b"inputs=x", "application/x-www-form-urlencoded"), 415, "application/json")
    assert_problem(send(b"[1, 2]"), 422, "json object")
    assert_problem(send(b'{"inputs": ["topic"]}'), 422, "inputs")
    assert_problem(send(json.dumps({"inputs": {"topic": "x" * 1_100_000}}).encode()), 413, "larger")
    assert len(_runs_of_hook(settings, hook["id"])) == 2
    logged = deliveries(owner, hook["id"], lambda items: len(items) == 10)
    assert {d["status_code"] for d in logged if d["outcome"] == "rejected"} == {400, 413, 415, 422}


def test_a_workflow_that_cannot_run_is_refused_and_nothing_is_queued(
    person: Callable[..., User], anon: httpx.Client, settings: Settings
) -> None:
    owner = person("owner")
    workflow_id = import_workflow(owner, [node("crop", "crop_image")], [])
    hook = create_hook(owner, workflow_id)
    response = call(anon, hook, wait=5)
    body = assert_problem(response, 422, "cannot run", "image_url")
    assert body["errors"] and body["errors"][0]["node_id"] == "crop"
    assert _runs_of_hook(settings, hook["id"]) == []


def test_the_rate_limit_is_per_hook_and_counted_before_any_run(
    person: Callable[..., User], anon: httpx.Client, settings: Settings
) -> None:
    owner = person("owner")
    workflow_id = echo_workflow(owner)
    hook, other = create_hook(owner, workflow_id), create_hook(owner, workflow_id)
    bearer = {"authorization": f"Bearer {hook['secret']}"}
    codes = [anon.post(path_of(hook), json={"inputs": {"topic": "r"}}, headers=bearer).status_code for _ in range(31)]
    assert codes == [202] * 30 + [429]
    refused = anon.post(path_of(hook), json={"inputs": {"topic": "r"}}, headers=bearer)
    assert_problem(refused, 429, "try again")
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert len(_runs_of_hook(settings, hook["id"])) == 30
    assert call(anon, other, {"topic": "r"}).status_code == 202  # another hook has its own budget


def test_the_active_run_cap_of_the_creator_neither_blocks_nor_counts_webhook_runs(
    person: Callable[..., User], anon: httpx.Client
) -> None:
    owner = person("owner")
    slow = import_workflow(owner, [node("long", "sleep", seconds=2)], [])
    hook = create_hook(owner, slow)
    webhook_runs = [call(anon, hook).json()["run_id"] for _ in range(3)]
    editor_run = start_run(owner.http, slow)  # the cap (1) is not taken by webhook runs
    assert_problem(owner.http.post(f"/api/workflows/{slow}/runs", json={}), 429, "runs in progress")
    assert call(anon, hook).status_code == 202  # nor does the editor run block the hook
    for run_id in [*webhook_runs, editor_run["id"]]:
        wait_for_run(owner.http, run_id)


def test_a_hook_stops_when_its_creator_can_no_longer_run_the_workflow(
    person: Callable[..., User], anon: httpx.Client
) -> None:
    owner, editor = person("owner"), person("editor")
    workflow_id = echo_workflow(owner)
    owner.share(workflow_id, editor, "editor")
    hook = create_hook(editor, workflow_id)
    assert call(anon, hook, {"topic": "x"}).status_code == 202
    response = owner.http.patch(f"/api/workflows/{workflow_id}/members/{editor.id}", json={"role": "viewer"})
    assert response.status_code == 200, response.text
    assert_problem(call(anon, hook, {"topic": "x"}), 404, "no such webhook")
    logged = deliveries(owner, hook["id"], lambda items: len(items) == 2)
    assert "creator can no longer start runs" in logged[0]["reason"]
