"""Bad input gets a 4xx problem naming the problem, and nothing is written."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from server.settings import Settings
from tests.support import User, assert_problem, sql

GOOD_FILE: dict[str, Any] = {
    "format": "galaxy.workflow",
    "version": 1,
    "name": "Imported",
    "nodes": [
        {"id": "t1", "type": "text", "position": {"x": 0, "y": 0}, "data": {"text": "Hello"}},
        {"id": "l1", "type": "llm", "position": {"x": 300, "y": 0}, "data": {"temperature": 0.2}},
        {"id": "l2", "type": "llm", "position": {"x": 600, "y": 0}, "data": {}},
    ],
    "edges": [
        {"id": "e1", "source": "t1", "sourceHandle": "text", "target": "l1", "targetHandle": "user_message"},
        {"id": "e2", "source": "l1", "sourceHandle": "output", "target": "l2", "targetHandle": "user_message"},
    ],
}


def mutate(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    file = copy.deepcopy(GOOD_FILE)
    change(file)
    return file


def _add_edge(file: dict[str, Any], **edge: str) -> None:
    file["edges"].append(edge)


@pytest.fixture
def user(new_user: Callable[..., User], settings: Settings) -> Iterator[User]:
    user = new_user()
    yield user
    # Whatever a test sent, a refused request left nothing behind.
    assert count_workflows(settings, user) == 0


def count_workflows(settings: Settings, user: User) -> int:
    rows = sql(
        settings.database_url,
        "SELECT count(*) AS n FROM memberships m JOIN workflows w ON w.id = m.workflow "
        'WHERE m."user" = $1::uuid AND w.deleted_at IS NULL',
        user.id,
    )
    return int(rows[0]["n"])


def test_good_file_imports(new_user: Callable[..., User]) -> None:
    response = new_user().http.post("/api/workflows/import", json=GOOD_FILE)
    assert response.status_code == 201 and response.json()["problems"] == []


INVALID_FILES = {
    "cycle": (
        mutate(
            lambda f: _add_edge(
                f, id="back", source="l2", sourceHandle="output", target="l1", targetHandle="system_prompt"
            )
        ),
        ["cycle", "l1", "l2"],
    ),
    "unknown node type": (
        mutate(lambda f: f["nodes"].append({"id": "x", "type": "teleport", "position": {"x": 0, "y": 0}})),
        ["teleport", "x"],
    ),
    "dangling edge": (
        mutate(
            lambda f: _add_edge(
                f, id="e9", source="ghost", sourceHandle="text", target="l1", targetHandle="system_prompt"
            )
        ),
        ["e9", "ghost"],
    ),
    "unknown handle": (
        mutate(lambda f: f["edges"][0].update(targetHandle="prompt")),
        ["e1", "prompt"],
    ),
    "incompatible types": (
        mutate(
            lambda f: (
                f["nodes"].append({"id": "img", "type": "upload_image", "position": {"x": 0, "y": 9}}),
                _add_edge(f, id="bad", source="img", sourceHandle="image", target="l1", targetHandle="system_prompt"),
            )
        ),
        ["bad", "image"],
    ),
    "two edges into one input": (
        mutate(
            lambda f: (
                f["nodes"].append({"id": "t2", "type": "text", "position": {"x": 0, "y": 99}}),
                _add_edge(f, id="e3", source="t2", sourceHandle="text", target="l1", targetHandle="user_message"),
            )
        ),
        ["e3", "user_message", "multiple_edges_into_single_input"],
    ),
    "duplicate edge": (
        mutate(
            lambda f: _add_edge(f, id="e4", source="t1", sourceHandle="text", target="l1", targetHandle="user_message")
        ),
        ["e4", "repeats"],
    ),
    "parameter out of range": (
        mutate(lambda f: f["nodes"][1]["data"].update(temperature=7)),
        ["l1", "temperature"],
    ),
    "unknown parameter": (mutate(lambda f: f["nodes"][0]["data"].update(colour="red")), ["t1", "colour"]),
    "duplicate node id": (mutate(lambda f: f["nodes"].append(copy.deepcopy(f["nodes"][0]))), ["t1"]),
}


@pytest.mark.parametrize("case", sorted(INVALID_FILES))
def test_invalid_import_files_are_refused_with_every_problem_named(user: User, case: str) -> None:
    file, fragments = INVALID_FILES[case]
    body = assert_problem(user.http.post("/api/workflows/import", json=file), 422, *fragments)
    assert body["errors"], body


def test_several_problems_are_reported_at_once(user: User) -> None:
    def break_everything(f: dict[str, Any]) -> None:
        f["nodes"][1]["data"]["temperature"] = -1
        f["edges"][0]["targetHandle"] = "nope"
        _add_edge(f, id="e7", source="t1", sourceHandle="text", target="missing", targetHandle="user_message")

    body = assert_problem(user.http.post("/api/workflows/import", json=mutate(break_everything)), 422)
    assert {e["code"] for e in body["errors"]} >= {"parameter_out_of_range", "unknown_handle", "dangling_edge"}
    assert all("node_id" in e or "edge_id" in e for e in body["errors"])


@pytest.mark.parametrize(
    ("change", "status", "fragment"),
    [
        (lambda f: f.update(version=2), 422, "version"),
        (lambda f: f.update(format="n8n"), 422, "galaxy.workflow"),
        (lambda f: f.pop("nodes"), 422, "nodes"),
        (lambda f: f["nodes"][2].update(position={"x": "left", "y": 0}), 422, "l2"),
        (lambda f: f["nodes"][0].update(id=7), 422, "nodes[0].id"),
        (lambda f: f["edges"][1].update(weight=3), 422, "weight"),
        (lambda f: f.update(name=""), 422, "name"),
        (lambda f: f.update(name=None), 422, "name"),
    ],
)
def test_malformed_import_files(
    user: User, change: Callable[[dict[str, Any]], Any], status: int, fragment: str
) -> None:
    assert_problem(user.http.post("/api/workflows/import", json=mutate(change)), status, fragment)


@pytest.mark.parametrize("raw", [b"{not json", b"", b"[]", b'"text"', b"\xff\xfe"])
def test_import_of_non_json(user: User, raw: bytes) -> None:
    response = user.http.post("/api/workflows/import", content=raw, headers={"content-type": "application/json"})
    assert 400 <= response.status_code < 500
    assert_problem(response, response.status_code)


def test_oversize_import_and_oversize_body(user: User, settings: Settings) -> None:
    big = mutate(lambda f: f["nodes"][0]["data"].update(text="x" * (settings.max_import_bytes + 10)))
    assert_problem(user.http.post("/api/workflows/import", json=big), 413, "limited")
    huge = json.dumps({"name": "x" * (settings.max_request_bytes + 10)})
    response = user.http.post("/api/workflows", content=huge, headers={"content-type": "application/json"})
    assert_problem(response, 413)


def test_too_many_nodes(user: User, settings: Settings) -> None:
    nodes = [{"id": f"n{i}", "type": "text", "position": {"x": i, "y": 0}} for i in range(settings.max_nodes + 1)]
    body = assert_problem(
        user.http.post("/api/workflows/import", json=mutate(lambda f: f.update(nodes=nodes, edges=[]))), 422
    )
    assert body["errors"][0]["code"] == "too_many_nodes"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/api/workflows", '{"name": '),
        ("POST", "/api/workflows", '{"name": 5}'),
        ("POST", "/api/workflows", '{"name": "ok", "owner": "someone-else"}'),
        ("POST", "/api/workflows", '["name"]'),
        ("POST", "/api/auth/login", '{"email": "a@b.co"}'),
        ("POST", "/api/auth/signup", '{"email": "not-an-email", "password": "long enough pw", "name": "x"}'),
        ("POST", "/api/tokens", '{"name": ""}'),
        ("POST", "/api/tokens", "null"),
    ],
)
def test_malformed_bodies(user: User, method: str, path: str, body: str) -> None:
    response = user.http.request(method, path, content=body, headers={"content-type": "application/json"})
    problem = assert_problem(response, 400)
    assert problem["detail"] and "Traceback" not in response.text


def test_unknown_routes_and_methods_are_problems(user: User) -> None:
    assert_problem(user.http.get("/api/nope"), 404)
    assert_problem(user.http.put("/api/workflows"), 405)


def test_deeply_nested_json_is_a_400_even_before_sign_in(user: User, base_url: str, clients: Any) -> None:
    deep = '{"email": ' + "[" * 5000 + "]" * 5000 + "}"
    anonymous = clients(base_url)
    response = anonymous.post("/api/auth/login", content=deep, headers={"content-type": "application/json"})
    assert_problem(response, 400, "nested")
    deep_file = '{"format": "galaxy.workflow", "version": 1, "x": ' + "[" * 5000 + "]" * 5000 + "}"
    response = user.http.post("/api/workflows/import", content=deep_file, headers={"content-type": "application/json"})
    assert_problem(response, 400, "nested")


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (lambda f: f["nodes"][1]["data"].update(temperature=2**64), "temperature"),
        (lambda f: f["nodes"][0]["data"].update(text="a\x00b"), "nul"),
        (lambda f: f.update(name="tab\there"), "name"),
        (lambda f: f.update(name="   "), "name"),
        (lambda f: f["edges"][0].pop("target"), "target"),
    ],
)
def test_values_json_or_yjs_cannot_hold_are_refused(
    user: User, change: Callable[[dict[str, Any]], Any], fragment: str
) -> None:
    assert_problem(user.http.post("/api/workflows/import", json=mutate(change)), 422, fragment)


@pytest.mark.parametrize("name", ["a\x00b", "line\nbreak", "  ", "\x7f"])
def test_control_characters_in_names(user: User, name: str) -> None:
    assert_problem(user.http.post("/api/workflows", json={"name": name}), 400, "name")
    assert_problem(user.http.post("/api/tokens", json={"name": name}), 400, "name")


def test_numbers_beyond_json_range(user: User) -> None:
    body = json.dumps(GOOD_FILE).replace('"x": 300', '"x": 1e999')
    response = user.http.post("/api/workflows/import", content=body, headers={"content-type": "application/json"})
    assert_problem(response, 400, "out of range")


def test_json_endpoints_refuse_other_content_types(user: User, base_url: str, clients: Any) -> None:
    # What an HTML form can send cross-site without a CORS preflight: text/plain and urlencoded.
    anonymous = clients(base_url)
    form = anonymous.post(
        "/api/auth/login", content='{"email": "a@b.co", "password": "x"}', headers={"content-type": "text/plain"}
    )
    assert_problem(form, 415, "application/json")
    assert_problem(user.http.post("/api/workflows", data={"name": "x"}), 415, "application/json")
    assert_problem(user.http.post("/api/workflows", content=b'{"name": "x"}'), 415, "missing")


def test_cross_site_writes_are_refused(user: User) -> None:
    response = user.http.post("/api/workflows", json={"name": "x"}, headers={"sec-fetch-site": "cross-site"})
    assert_problem(response, 403, "cross-site")
    same = user.http.post("/api/workflows", json={"name": "kept"}, headers={"sec-fetch-site": "same-origin"})
    assert same.status_code == 201
    assert user.http.delete(f"/api/workflows/{same.json()['id']}").status_code == 204  # leaves the fixture's count at 0


def test_cursors_out_of_range_are_refused(user: User) -> None:
    import base64

    for stamp in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "2026-01-01T00:00:00"):
        raw = json.dumps([stamp, "00000000-0000-0000-0000-000000000000"]).encode()
        cursor = base64.urlsafe_b64encode(raw).decode().rstrip("=")
        assert_problem(user.http.get("/api/workflows", params={"cursor": cursor}), 422, "cursor")
