"""Document ↔ graph conversion, including documents written by a hostile Yjs client."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from pycrdt import Array, Doc, Map, Text, XmlFragment

from engine.registry import builtin_registry
from server.workflows import document
from server.workflows.format import graph_json
from server.workflows.templates import marketing_kit

REGISTRY = builtin_registry()


def test_graph_survives_a_trip_through_the_crdt() -> None:
    graph = marketing_kit({})
    doc = document.new_document(graph, "Kit", REGISTRY)
    again = document.decode_state(document.encode_state(doc))
    assert document.document_graph(again) == graph
    assert document.document_name(again) == "Kit"


def test_multiline_text_parameters_are_ytext_so_typing_merges() -> None:
    doc = document.new_document(marketing_kit({}), "Kit", REGISTRY)
    data = doc.get("nodes", type=Map)["copywriter"]["data"]
    assert isinstance(data["system_prompt"], Text)
    assert not isinstance(data["model"], Text)
    # Two people type into the same prompt at once; both keystrokes survive.
    alice, bob = document.decode_state(doc.get_update()), document.decode_state(doc.get_update())
    alice.get("nodes", type=Map)["copywriter"]["data"]["system_prompt"].insert(0, "A")
    bobs = bob.get("nodes", type=Map)["copywriter"]["data"]["system_prompt"]
    bobs.insert(len(bobs), "B")
    alice.apply_update(bob.get_update(alice.get_state()))
    prompt = document.document_graph(alice).nodes["copywriter"].data["system_prompt"]
    assert prompt.startswith("A") and prompt.endswith("B")


def test_replace_graph_touches_only_what_differs() -> None:
    doc = document.new_document(marketing_kit({}), "Kit", REGISTRY)
    target = marketing_kit({})
    del target.nodes["details"]
    target.edges = {k: e for k, e in target.edges.items() if "details" not in (e.source, e.target)}
    target.nodes["crop"].data["x_percent"] = 5
    before = doc.get_state()
    document.replace_graph(doc, target, REGISTRY)
    assert document.document_graph(doc) == target
    untouched = document.decode_state(doc.get_update(before))
    assert "social" not in untouched.get("nodes", type=Map)  # unchanged nodes are not rewritten


def hostile(build: Any) -> Doc[Any]:
    doc: Doc[Any] = Doc()
    nodes = doc.get("nodes", type=Map)
    doc.get("edges", type=Map)
    with doc.transaction():
        build(doc, nodes)
    return document.decode_state(doc.get_update())


def _deep_map(depth: int) -> Map[Any]:
    inner: Map[Any] = Map({"leaf": 1})
    for _ in range(depth):
        inner = Map({"x": inner})
    return inner


HOSTILE = {
    "node is a string": lambda doc, nodes: nodes.update({"n": "text"}),
    "data is Y.Text": lambda doc, nodes: nodes.update({"n": Map({"type": "text", "data": Text("x")})}),
    "position is a list": lambda doc, nodes: nodes.update({"n": Map({"type": "text", "position": [1, 2]})}),
    "booleans for numbers": lambda doc, nodes: nodes.update(
        {"n": Map({"type": "text", "position": {"x": True, "y": False}})}
    ),
    "xml fragment in data": lambda doc, nodes: nodes.update(
        {"n": Map({"type": "text", "data": Map({"text": XmlFragment()})})}
    ),
    "subdocument in data": lambda doc, nodes: nodes.update({"n": Map({"type": "text", "data": Map({"text": Doc()})})}),
    "y.array in data": lambda doc, nodes: nodes.update({"n": Map({"type": "text", "data": Map({"text": Array([1])})})}),
    "maps nested 300 deep": lambda doc, nodes: nodes.update({"n": Map({"type": "text", "data": _deep_map(300)})}),
    "json nested 3000 deep": lambda doc, nodes: nodes.update(
        {"n": Map({"type": "text", "data": Map({"text": _deep_json(3000)})})}
    ),
    "huge integer-like float": lambda doc, nodes: nodes.update(
        {"n": Map({"type": "crop_image", "data": Map({"x_percent": 1e300})})}
    ),
}


def _deep_json(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_documents_read_as_invalid_graphs_never_as_errors(case: str) -> None:
    try:
        doc = hostile(HOSTILE[case])
    except (RecursionError, ValueError, TypeError):
        pytest.skip("pycrdt itself refuses to build this document")
    graph = document.document_graph(doc)
    problems = document.check_graph(graph, REGISTRY, max_nodes=500, max_edges=2000)
    assert problems, "a malformed node must be reported"
    # Whatever was read can be served as JSON and copied into a new document.
    msgspec.json.encode(graph_json(graph))
    copy = document.new_document(graph, "copy", REGISTRY)
    assert set(document.document_graph(copy).nodes) == set(graph.nodes)
