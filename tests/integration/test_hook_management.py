"""Managing webhooks end to end: who may see and change them, checked input, the delivery log
and a callback refused at delivery — on the same server as test_hooks.py (`hooks_url`)."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import httpx
import pytest

from server.settings import Settings
from tests.integration.hooks_support import call, create_hook, deliveries, echo_workflow, path_of
from tests.support import Clients, User, assert_problem, sql


@pytest.fixture
def person(clients: Clients, hooks_url: str) -> Callable[..., User]:
    return lambda name="": clients.user(hooks_url, name)


@pytest.fixture
def anon(clients: Clients, hooks_url: str) -> httpx.Client:
    return clients(hooks_url)


def test_viewers_read_hooks_and_other_people_see_nothing(person: Callable[..., User], anon: httpx.Client) -> None:
    owner, viewer, stranger = person("owner"), person("viewer"), person("stranger")
    workflow_id = echo_workflow(owner)
    owner.share(workflow_id, viewer, "viewer")
    hook = create_hook(owner, workflow_id, callback_url="")
    assert call(anon, hook, {"topic": "x"}).status_code == 202
    for client in (viewer.http, viewer.token_client()):
        assert [h["id"] for h in client.get(f"/api/workflows/{workflow_id}/hooks").json()["items"]] == [hook["id"]]
        assert client.get(f"/api/hooks/{hook['id']}/deliveries").status_code == 200
        assert_problem(client.patch(f"/api/hooks/{hook['id']}", json={"name": "mine"}), 403, "editor")
        assert_problem(client.post(f"/api/hooks/{hook['id']}/rotate", json={}), 403, "editor")
        assert_problem(client.delete(f"/api/hooks/{hook['id']}"), 403, "editor")
        assert_problem(client.post(f"/api/workflows/{workflow_id}/hooks", json={"name": "v"}), 403, "editor")
    for client in (stranger.http, stranger.token_client()):
        assert_problem(client.get(f"/api/workflows/{workflow_id}/hooks"), 404)
        assert_problem(client.post(f"/api/workflows/{workflow_id}/hooks", json={"name": "s"}), 404)
        assert_problem(client.get(f"/api/hooks/{hook['id']}/deliveries"), 404, "no such hook")
        assert_problem(client.post(f"/api/hooks/{hook['id']}/rotate", json={}), 404, "no such hook")
        assert_problem(client.patch(f"/api/hooks/{hook['id']}", json={"enabled": False}), 404, "no such hook")
        assert_problem(client.delete(f"/api/hooks/{hook['id']}"), 404, "no such hook")
    assert call(anon, hook, {"topic": "still mine"}).status_code == 202  # nothing was changed or rotated


def test_hook_input_is_checked(person: Callable[..., User]) -> None:
    owner = person("owner")
    workflow_id = echo_workflow(owner)
    base = f"/api/workflows/{workflow_id}/hooks"
    assert_problem(owner.http.post(base, json={}), 400, "name")
    assert_problem(owner.http.post(base, json={"name": " "}), 400)
    assert_problem(owner.http.post(base, json={"name": "x", "secret": "mine"}), 400, "secret")
    for url, reason in (
        ("http://example.com/cb", "https"),
        ("https://127.0.0.1/cb", "this machine"),
        ("https://10.0.0.8/cb", "private"),
        ("https://169.254.169.254/latest/meta-data", "metadata"),
        ("https://localhost/cb", "this machine"),
        ("not a url", "https"),
    ):
        assert_problem(owner.http.post(base, json={"name": "x", "callback_url": url}), 422, reason)
    hook = create_hook(owner, workflow_id, callback_url="https://hooks.example.invalid/cb")
    assert hook["callback_url"] == "https://hooks.example.invalid/cb"
    patched = owner.http.patch(f"/api/hooks/{hook['id']}", json={"callback_url": "", "name": "Renamed"})
    assert patched.json()["callback_url"] == "" and patched.json()["name"] == "Renamed"
    assert_problem(owner.http.patch(f"/api/hooks/{hook['id']}", json={"callback_url": "https://[::1]/"}), 422)
    assert_problem(owner.http.patch(f"/api/hooks/{hook['id']}", json={"enabled": "yes"}), 400)
    assert_problem(owner.http.patch(f"/api/hooks/{uuid.uuid4()}", json={}), 404)


def test_the_delivery_log_pages_newest_first_and_keeps_only_the_newest(
    person: Callable[..., User], anon: httpx.Client
) -> None:
    owner = person("owner")
    hook = create_hook(owner, echo_workflow(owner))
    accepted = call(anon, hook, {"topic": "kept"}, msg_id="msg_first").json()["run_id"]
    for _ in range(40):  # refused requests are logged too (and are not rate limited)
        anon.post(path_of(hook), json={}, headers={"authorization": "Bearer whsec_wrong"})
    # Once all 41 are written and trimmed: only refusals are left, 25 of them (plus any written since the last trim).
    logged = deliveries(
        owner, hook["id"], lambda items: 25 <= len(items) <= 28 and all(d["outcome"] == "rejected" for d in items)
    )
    assert all(d["address"] == "127.0.0.1" for d in logged)
    first = owner.http.get(f"/api/hooks/{hook['id']}/deliveries", params={"limit": 10}).json()
    second = owner.http.get(
        f"/api/hooks/{hook['id']}/deliveries", params={"limit": 10, "cursor": first["next_cursor"]}
    ).json()
    assert len(first["items"]) == len(second["items"]) == 10
    stamps = [d["received_at"] for d in first["items"] + second["items"]]
    assert stamps == sorted(stamps, reverse=True) and not {d["id"] for d in first["items"]} & {
        d["id"] for d in second["items"]
    }
    assert accepted not in {d["run_id"] for d in logged}  # the oldest rows went
    assert_problem(owner.http.get(f"/api/hooks/{hook['id']}/deliveries", params={"cursor": "nope"}), 422)


def test_a_callback_to_a_private_address_is_refused_at_delivery(
    person: Callable[..., User], anon: httpx.Client, settings: Settings
) -> None:
    owner = person("owner")
    hook = create_hook(owner, echo_workflow(owner))
    # Its name resolved to a public address when it was set, and to this machine now.
    sql(
        settings.database_url,
        "UPDATE webhooks SET callback_url = 'https://127.0.0.1:9/callback' WHERE id = $1",
        uuid.UUID(hook["id"]),
    )
    run_id = call(anon, hook, {"topic": "x"}, wait=20).json()["run_id"]
    logged = deliveries(owner, hook["id"], lambda items: any(d["kind"] == "callback" for d in items))
    callback = next(d for d in logged if d["kind"] == "callback")
    assert callback["outcome"] == "refused" and "this machine" in callback["reason"]
    assert callback["run_id"] == run_id and callback["attempt"] == 1
