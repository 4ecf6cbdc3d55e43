"""Callbacks of webhook runs: signed with Standard Webhooks headers from the worker, verified here
by the `standardwebhooks` package, retried with backoff, every attempt in the delivery log.

The receivers listen on 127.0.0.1 over plain http, so this module's server and worker allow
private addresses and http (WEBHOOK_CALLBACK_ALLOW_PRIVATE / _HTTP); test_hooks.py checks that
both are refused without them."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from standardwebhooks import Webhook

from server.settings import Settings
from tests.integration.hooks_support import call, create_hook, deliveries, echo_workflow, receiver
from tests.integration.runs_support import import_workflow, in_process_worker, node, runs_settings
from tests.support import Clients, User, run_server


@pytest.fixture(scope="module")
def callbacks_url(settings: Settings, node_log: Path) -> Iterator[str]:
    options = runs_settings(
        settings,
        webhook_callback_allow_private=True,
        webhook_callback_allow_http=True,
        webhook_callback_backoff_ms=50,
        webhook_callback_attempts=4,
        webhook_callback_timeout=2.0,
    )
    with run_server(options) as url, in_process_worker(options):
        yield url


@pytest.fixture
def person(clients: Clients, callbacks_url: str) -> Callable[..., User]:
    return lambda name="": clients.user(callbacks_url, name)


@pytest.fixture
def anon(clients: Clients, callbacks_url: str) -> httpx.Client:
    return clients(callbacks_url)


def test_the_finished_run_is_posted_signed_with_the_hooks_secret(
    person: Callable[..., User], anon: httpx.Client
) -> None:
    owner = person("owner")
    with receiver() as server:
        hook = create_hook(owner, echo_workflow(owner), callback_url=server.url)
        run_id = call(anon, hook, {"topic": "called back:"}).json()["run_id"]
        [(headers, body)] = server.wait_for(1)
    payload = Webhook(hook["secret"]).verify(body, headers)  # raises unless signed with the secret
    assert headers["webhook-id"] == f"msg_{run_id.replace('-', '')}"
    assert payload["type"] == "run.finished"
    data = payload["data"]
    assert data["run_id"] == run_id and data["status"] == "success"
    assert data["outputs_by_label"] == {"Result": {"out": "called back:echo;"}}
    assert data["outputs"] == {"echo": {"out": "called back:echo;"}} and data["errors"] == []
    assert data["duration_ms"] is not None and all(n["finished_at"] for n in data["nodes"])
    logged = deliveries(owner, hook["id"], lambda items: any(d["kind"] == "callback" for d in items))
    callback = next(d for d in logged if d["kind"] == "callback")
    assert callback["outcome"] == "delivered" and callback["status_code"] == 200
    assert callback["address"] == "127.0.0.1" and callback["run_id"] == run_id


def test_a_failed_run_is_posted_with_its_errors(person: Callable[..., User], anon: httpx.Client) -> None:
    owner = person("owner")
    workflow_id = import_workflow(owner, [node("bad", "fail", label="Broken")], [])
    with receiver() as server:
        hook = create_hook(owner, workflow_id, callback_url=server.url)
        call(anon, hook)
        [(headers, body)] = server.wait_for(1)
    data = Webhook(hook["secret"]).verify(body, headers)["data"]
    assert data["status"] == "failed" and data["errors"][0]["error"] == "Node bad failed on purpose."


def test_a_receiver_that_fails_twice_gets_the_run_on_the_third_attempt(
    person: Callable[..., User], anon: httpx.Client
) -> None:
    owner = person("owner")
    with receiver(answers=[503, 500]) as server:
        hook = create_hook(owner, echo_workflow(owner), callback_url=server.url)
        run_id = call(anon, hook, {"topic": "third time:"}).json()["run_id"]
        received = server.wait_for(3)
    ids = {headers["webhook-id"] for headers, _ in received}
    assert len(received) == 3 and len(ids) == 1  # one message, delivered three times
    for headers, body in received:
        assert Webhook(hook["secret"]).verify(body, headers)["data"]["run_id"] == run_id
    logged = deliveries(owner, hook["id"], lambda items: sum(d["kind"] == "callback" for d in items) == 3)
    attempts = sorted((d["attempt"], d["outcome"], d["status_code"]) for d in logged if d["kind"] == "callback")
    assert attempts == [(1, "retrying", 503), (2, "retrying", 500), (3, "delivered", 200)]
    assert "next attempt in 0.05 s" in next(d["reason"] for d in logged if d["attempt"] == 1).lower()


def test_attempts_are_bounded_and_a_4xx_is_final(person: Callable[..., User], anon: httpx.Client) -> None:
    owner = person("owner")
    with receiver(answers=[502] * 10) as server:
        hook = create_hook(owner, echo_workflow(owner), callback_url=server.url)
        call(anon, hook, {"topic": "x"})
        server.wait_for(4)
        logged = deliveries(owner, hook["id"], lambda items: any(d["outcome"] == "failed" for d in items))
    outcomes = sorted((d["attempt"], d["outcome"]) for d in logged if d["kind"] == "callback")
    assert outcomes == [(1, "retrying"), (2, "retrying"), (3, "retrying"), (4, "failed")]
    assert "gave up after 4 attempts" in next(d["reason"] for d in logged if d["outcome"] == "failed").lower()
    with receiver(answers=[410]) as server:
        patched = owner.http.patch(f"/api/hooks/{hook['id']}", json={"callback_url": server.url})
        assert patched.status_code == 200, patched.text
        call(anon, hook, {"topic": "y"})
        server.wait_for(1)
        logged = deliveries(owner, hook["id"], lambda items: any(d["status_code"] == 410 for d in items))
    assert next(d for d in logged if d["status_code"] == 410)["outcome"] == "failed"


def test_no_callback_for_a_hook_without_a_url(person: Callable[..., User], anon: httpx.Client) -> None:
    owner = person("owner")
    with receiver() as server:
        hook = create_hook(owner, echo_workflow(owner))
        assert call(anon, hook, {"topic": "x"}, wait=10).status_code == 200
        patched = owner.http.patch(f"/api/hooks/{hook['id']}", json={"callback_url": server.url})
        assert patched.status_code == 200
        assert call(anon, hook, {"topic": "y"}, wait=10).status_code == 200
        server.wait_for(1)
        assert json.loads(server.received[0][1])["data"]["outputs"] == {"echo": {"out": "yecho;"}}
    logged = deliveries(owner, hook["id"], lambda items: sum(d["kind"] == "callback" for d in items) == 1)
    assert len(logged) == 3


def test_a_name_that_does_not_resolve_is_retried_then_given_up(person: Callable[..., User], anon: httpx.Client) -> None:
    owner = person("owner")
    hook = create_hook(owner, echo_workflow(owner), callback_url="http://galaxy-no-such-host.invalid/callback")
    call(anon, hook, {"topic": "x"})
    logged = deliveries(owner, hook["id"], lambda items: any(d["outcome"] == "failed" for d in items))
    outcomes = sorted((d["attempt"], d["outcome"]) for d in logged if d["kind"] == "callback")
    assert outcomes == [(1, "retrying"), (2, "retrying"), (3, "retrying"), (4, "failed")]
    assert all("could not be resolved" in d["reason"] for d in logged if d["kind"] == "callback")
