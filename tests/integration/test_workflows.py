"""Workflows over HTTP: create, template, list, read, rename, duplicate, delete, export/import, members."""

from __future__ import annotations

from collections.abc import Callable

from server.settings import Settings
from tests.support import Clients, User, assert_problem, sql

NewUser = Callable[..., User]


def test_create_blank_and_read_back(new_user: NewUser) -> None:
    user = new_user()
    created = user.create_workflow(name="  Launch plan ")
    assert created["role"] == "owner" and created["graph"] == {"nodes": [], "edges": []}
    fetched = user.http.get(f"/api/workflows/{created['id']}").json()
    assert fetched["name"] == "  Launch plan " and fetched["owner_id"] == user.id
    assert user.create_workflow(template=None)["name"] == "Untitled workflow"


def test_marketing_kit_template(new_user: NewUser) -> None:
    user = new_user()
    workflow = user.create_workflow(template="marketing-kit")
    assert workflow["name"] == "Product Marketing Kit Generator"
    graph = workflow["graph"]
    types = {n["id"]: n["type"] for n in graph["nodes"]}
    assert sorted(types.values()) == sorted(
        ["upload_image", "crop_image", "text", "llm", "upload_video", "extract_frame", "llm"]
    )
    links = {(e["source"], e["sourceHandle"], e["target"], e["targetHandle"]) for e in graph["edges"]}
    # Branch A: image → crop → LLM #1 (with the product details); branch B: video → frame at 50%.
    assert ("upload-image", "image", "crop", "image_url") in links
    assert ("crop", "output", "copywriter", "images") in links
    assert ("details", "text", "copywriter", "user_message") in links
    assert ("upload-video", "video", "frame", "video_url") in links
    # Both converge on LLM #2: LLM #1's text plus both images.
    assert {("copywriter", "output", "social", "user_message"), ("crop", "output", "social", "images"),
            ("frame", "output", "social", "images")} <= links  # fmt: skip
    nodes = {n["id"]: n for n in graph["nodes"]}
    assert nodes["frame"]["data"]["timestamp"] == "50%"
    crop = nodes["crop"]["data"]
    assert (crop["x_percent"], crop["y_percent"], crop["width_percent"], crop["height_percent"]) == (10, 10, 80, 80)
    assert "copywriter" in nodes["copywriter"]["data"]["system_prompt"]
    assert workflow["problems"] == []


def test_unknown_template_is_refused(new_user: NewUser, settings: Settings) -> None:
    user = new_user()
    assert_problem(user.http.post("/api/workflows", json={"template": "nope"}), 400, "template")
    assert user.http.get("/api/workflows").json()["items"] == []


def test_list_is_paginated_newest_first_and_includes_shared(new_user: NewUser) -> None:
    alice, bob = new_user("alice"), new_user("bob")
    ids = [alice.create_workflow(name=f"w{i}")["id"] for i in range(3)]
    shared = bob.create_workflow(name="bob's")
    bob.share(shared["id"], alice, "viewer")
    alice.http.patch(f"/api/workflows/{ids[0]}", json={"name": "w0 renamed"})  # now the newest of alice's own
    first = alice.http.get("/api/workflows", params={"limit": 2}).json()
    assert [w["name"] for w in first["items"]] == ["w0 renamed", "bob's"]
    second = alice.http.get("/api/workflows", params={"limit": 2, "cursor": first["next_cursor"]}).json()
    assert [w["name"] for w in second["items"]] == ["w2", "w1"]
    last = alice.http.get("/api/workflows", params={"limit": 2, "cursor": second["next_cursor"]}).json()
    assert last == {"items": [], "next_cursor": None} or second["next_cursor"] is None
    everything = first["items"] + second["items"]
    by_name = {w["name"]: w for w in everything}
    assert by_name["bob's"]["role"] == "viewer" and by_name["bob's"]["owner"]["name"] == "bob"
    stamps = [w["updated_at"] for w in everything]
    assert stamps == sorted(stamps, reverse=True)
    assert [w["name"] for w in bob.http.get("/api/workflows").json()["items"]] == ["bob's"]


def test_bad_cursor_and_limit(new_user: NewUser) -> None:
    user = new_user()
    assert_problem(user.http.get("/api/workflows", params={"cursor": "garbage!"}), 422, "cursor")
    assert_problem(user.http.get("/api/workflows", params={"limit": 0}), 400, "limit")
    assert_problem(user.http.get("/api/workflows", params={"limit": 1000}), 400, "limit")


def test_rename_is_a_document_edit(new_user: NewUser, settings: Settings) -> None:
    user = new_user()
    workflow = user.create_workflow(template="marketing-kit")
    renamed = user.http.patch(f"/api/workflows/{workflow['id']}", json={"name": "Spring kit"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "Spring kit"
    assert renamed.json()["graph"] == workflow["graph"]
    log = sql(settings.database_url, "SELECT author FROM document_updates WHERE workflow = $1::uuid", workflow["id"])
    assert [str(row["author"]) for row in log] == [user.id]
    assert user.http.get(f"/api/workflows/{workflow['id']}/export").json()["name"] == "Spring kit"
    assert_problem(user.http.patch(f"/api/workflows/{workflow['id']}", json={"name": ""}), 400, "name")
    assert_problem(user.http.patch(f"/api/workflows/{workflow['id']}", json={"name": "x" * 201}), 400, "name")


def test_duplicate_copies_the_graph_into_a_new_owned_workflow(new_user: NewUser) -> None:
    alice, bob = new_user("alice"), new_user("bob")
    original = alice.create_workflow(template="marketing-kit")
    alice.share(original["id"], bob, "viewer")
    copy = bob.http.post(f"/api/workflows/{original['id']}/duplicate")
    assert copy.status_code == 201
    body = copy.json()
    assert body["id"] != original["id"] and body["role"] == "owner" and body["owner_id"] == bob.id
    assert body["name"] == "Copy of Product Marketing Kit Generator"
    assert body["graph"] == original["graph"]
    assert_problem(alice.http.get(f"/api/workflows/{body['id']}"), 404)  # the copy is bob's alone


def test_delete_hides_the_workflow_from_everyone(new_user: NewUser, settings: Settings) -> None:
    alice, bob = new_user("alice"), new_user("bob")
    workflow = alice.create_workflow()
    alice.share(workflow["id"], bob, "editor")
    assert alice.http.delete(f"/api/workflows/{workflow['id']}").status_code == 204
    for user in (alice, bob):
        assert_problem(user.http.get(f"/api/workflows/{workflow['id']}"), 404)
        assert user.http.get("/api/workflows").json()["items"] == []
    assert_problem(alice.http.delete(f"/api/workflows/{workflow['id']}"), 404)
    row = sql(settings.database_url, "SELECT deleted_at FROM workflows WHERE id = $1::uuid", workflow["id"])
    assert row[0]["deleted_at"] is not None  # soft delete: the record is kept


def test_export_import_round_trip(new_user: NewUser) -> None:
    user = new_user()
    workflow = user.create_workflow(template="marketing-kit")
    exported = user.http.get(f"/api/workflows/{workflow['id']}/export").json()
    assert exported["format"] == "galaxy.workflow" and exported["version"] == 1
    imported = user.http.post("/api/workflows/import", json=exported)
    assert imported.status_code == 201, imported.text
    again = user.http.get(f"/api/workflows/{imported.json()['id']}/export").json()
    assert again == exported


def test_members_lifecycle(new_user: NewUser) -> None:
    owner, editor, viewer = new_user("owner"), new_user("editor"), new_user("viewer")
    workflow = owner.create_workflow()
    wid = workflow["id"]
    invited = owner.http.post(f"/api/workflows/{wid}/members", json={"email": editor.email.upper(), "role": "editor"})
    assert invited.status_code == 201 and invited.json()["role"] == "editor"
    owner.share(wid, viewer, "viewer")
    members = {m["email"]: m["role"] for m in viewer.http.get(f"/api/workflows/{wid}/members").json()["items"]}
    assert members == {owner.email: "owner", editor.email: "editor", viewer.email: "viewer"}
    # The editor can rename; the viewer cannot until promoted.
    assert editor.http.patch(f"/api/workflows/{wid}", json={"name": "team"}).status_code == 200
    assert_problem(viewer.http.patch(f"/api/workflows/{wid}", json={"name": "mine"}), 403, "editor")
    promoted = owner.http.patch(f"/api/workflows/{wid}/members/{viewer.id}", json={"role": "editor"})
    assert promoted.json()["role"] == "editor"
    assert viewer.http.patch(f"/api/workflows/{wid}", json={"name": "ours"}).status_code == 200
    # Removal takes effect at once.
    assert owner.http.delete(f"/api/workflows/{wid}/members/{viewer.id}").status_code == 204
    assert_problem(viewer.http.get(f"/api/workflows/{wid}"), 404)


def test_member_errors(new_user: NewUser) -> None:
    owner, other = new_user("owner"), new_user("other")
    wid = owner.create_workflow()["id"]
    members = f"/api/workflows/{wid}/members"
    assert_problem(owner.http.post(members, json={"email": "nobody@example.com", "role": "editor"}), 404, "sign up")
    owner.share(wid, other, "viewer")
    assert_problem(owner.http.post(members, json={"email": other.email, "role": "editor"}), 409, "already")
    assert_problem(owner.http.post(members, json={"email": other.email, "role": "owner"}), 400, "role")
    assert_problem(owner.http.patch(f"{members}/{owner.id}", json={"role": "viewer"}), 409, "owner")
    assert_problem(owner.http.delete(f"{members}/{owner.id}"), 409, "owner")
    stranger = new_user("stranger")
    assert_problem(owner.http.patch(f"{members}/{stranger.id}", json={"role": "viewer"}), 404, "not a member")


def test_viewer_may_duplicate_and_export_but_not_write(new_user: NewUser, clients: Clients) -> None:
    owner, viewer = new_user("owner"), new_user("viewer")
    wid = owner.create_workflow(template="marketing-kit")["id"]
    owner.share(wid, viewer, "viewer")
    assert viewer.http.get(f"/api/workflows/{wid}/export").status_code == 200
    assert viewer.http.post(f"/api/workflows/{wid}/duplicate").status_code == 201
    assert_problem(viewer.http.delete(f"/api/workflows/{wid}"), 403, "owner")
    assert owner.http.get(f"/api/workflows/{wid}").status_code == 200


def test_concurrent_renames_leave_one_consistent_name(new_user: NewUser) -> None:
    from concurrent.futures import ThreadPoolExecutor

    user = new_user()
    wid = user.create_workflow()["id"]
    with ThreadPoolExecutor(max_workers=6) as pool:
        statuses = list(pool.map(lambda i: user.http.patch(f"/api/workflows/{wid}", json={"name": f"n{i}"}).status_code,
                                 range(12)))  # fmt: skip
    assert statuses == [200] * 12
    listed = next(w for w in user.http.get("/api/workflows").json()["items"] if w["id"] == wid)["name"]
    assert listed == user.http.get(f"/api/workflows/{wid}").json()["name"]
    assert listed == user.http.get(f"/api/workflows/{wid}/export").json()["name"]


def test_a_read_always_shows_the_stored_document_however_it_changed(new_user: NewUser, settings: Settings) -> None:
    """Unchanged documents are served from a cache of decoded views; every kind of change must
    still show on the next read."""
    user = new_user()
    blank = user.create_workflow(name="Blank")
    kit = user.create_workflow(template="marketing-kit")
    url = f"/api/workflows/{blank['id']}"
    assert user.http.get(url).json()["graph"]["nodes"] == []
    assert user.http.get(url).json()["name"] == "Blank"  # a second read of the same stamp
    # A log entry (a rename through the API).
    user.http.patch(url, json={"name": "Renamed"})
    assert user.http.get(url).json()["name"] == "Renamed"
    # The row itself rewritten (as compaction or a data migration does), the log emptied.
    sql(
        settings.database_url,
        "UPDATE workflows SET snapshot = (SELECT snapshot FROM workflows WHERE id = $2::uuid), "
        "snapshot_seq = (SELECT coalesce(max(id), 0) FROM document_updates) WHERE id = $1::uuid",
        blank["id"],
        kit["id"],
    )
    read = user.http.get(url).json()
    assert read["name"] == "Product Marketing Kit Generator" and read["graph"] == kit["graph"]
    # Deleted: gone at once.
    user.http.delete(url)
    assert_problem(user.http.get(url), 404)
