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
    rows = sql(settings.database_url, 'SELECT count(*) AS n FROM memberships WHERE "user" = $1::uuid', user.id)
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
