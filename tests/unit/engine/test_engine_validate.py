from __future__ import annotations

import math
from typing import Any

import pytest
from engine_testkit import chain, edge, graph, node

from engine.graph import Graph, Node, Position
from engine.registry import builtin_registry
from engine.spec import MAX_LABEL_LENGTH, MAX_TEXT_LENGTH
from engine.validate import Problem, ProblemCode, structural_problems, validate_graph

REGISTRY = builtin_registry()


def problems(g: Graph, **options: Any) -> list[Problem]:
    return validate_graph(g, REGISTRY, **options)


def codes(g: Graph, **options: Any) -> list[str]:
    return [p.code for p in problems(g, **options)]


def product_kit() -> Graph:
    """The built-in Product Marketing Kit shape: two branches converging on an LLM."""
    return graph(
        [
            node("img", "upload_image", media_id="m1"),
            node("crop", "crop_image", x_percent=10, y_percent=10, width_percent=80, height_percent=80),
            node("details", "text", text="A lamp"),
            node("llm1", "llm", system_prompt="You write copy.", temperature=0.5),
            node("vid", "upload_video", media_id="m2"),
            node("frame", "extract_frame", timestamp="50%"),
            node("llm2", "llm", user_message="Write a post.", model="gpt-4o-mini"),
        ],
        [
            edge("e1", "img", "image", "crop", "image_url"),
            edge("e2", "crop", "output", "llm1", "images"),
            edge("e3", "details", "text", "llm1", "user_message"),
            edge("e4", "vid", "video", "frame", "video_url"),
            edge("e5", "llm1", "output", "llm2", "system_prompt"),
            edge("e6", "crop", "output", "llm2", "images"),
            edge("e7", "frame", "output", "llm2", "images"),
        ],
    )


def test_valid_workflow_has_no_problems() -> None:
    assert problems(product_kit(), require_inputs=True) == []


def test_empty_graph_is_valid() -> None:
    assert problems(Graph(nodes={}, edges={}), require_inputs=True) == []


def test_too_many_nodes_and_edges_come_first_and_alone() -> None:
    g = chain(["a", "b", "c"], [("a", "b"), ("b", "c"), ("c", "a")])
    found = problems(g, max_nodes=2, max_edges=2)
    assert [p.code for p in found] == ["too_many_nodes", "too_many_edges"]
    assert found[0].message == "The workflow has 3 nodes; the limit is 2."
    assert codes(g, max_nodes=3, max_edges=3) == ["cycle"]


def test_unknown_node_type() -> None:
    (found,) = problems(graph([node("n1", "teleport", anything=1)]))
    assert (found.code, found.node_id) == ("unknown_node_type", "n1")
    assert "'teleport'" in found.message and "llm" in found.message


def test_dangling_edge() -> None:
    g = graph(
        [node("a", "text")],
        [
            edge("e1", "a", "text", "ghost", "user_message"),
            edge("e2", "ghost", "output", "a", "x"),
            edge("e3", "p", "output", "q", "x"),
        ],
    )
    found = problems(g)
    assert [(p.code, p.edge_id) for p in found] == [
        ("dangling_edge", "e1"),
        ("dangling_edge", "e2"),
        ("dangling_edge", "e3"),
    ]
    assert "goes to node 'ghost'" in found[0].message
    assert "comes from node 'ghost'" in found[1].message
    assert "neither of which exists" in found[2].message


def test_unknown_handles_on_both_ends() -> None:
    g = graph([node("t", "text"), node("l", "llm")], [edge("e1", "t", "txt", "l", "prompt")])
    found = problems(g)
    assert [(p.code, p.node_id, p.field) for p in found] == [
        ("unknown_handle", "t", "txt"),
        ("unknown_handle", "l", "prompt"),
    ]
    assert "outputs: 'text'" in found[0].message


def test_incompatible_types_message_names_everything() -> None:
    g = graph(
        [node("crop1", "crop_image"), node("llm1", "llm")],
        [edge("e3", "crop1", "output", "llm1", "user_message")],
    )
    (found,) = problems(g)
    assert found == Problem(
        code="incompatible_types",
        message=(
            "Edge e3 connects image output 'output' of node crop1 to text input 'user_message' "
            "of node llm1: image cannot feed text."
        ),
        node_id="llm1",
        edge_id="e3",
        field="user_message",
    )


def test_text_may_feed_number_but_number_may_not_feed_text() -> None:
    g = graph(
        [node("t", "text", text="12"), node("f", "extract_frame"), node("v", "upload_video")],
        [edge("e1", "t", "text", "f", "timestamp"), edge("e2", "v", "video", "f", "video_url")],
    )
    assert codes(g) == []


def test_multiple_edges_into_single_input_reports_each_extra_edge() -> None:
    g = graph(
        [node("a", "text"), node("b", "text"), node("c", "text"), node("l", "llm")],
        [
            edge("e1", "a", "text", "l", "user_message"),
            edge("e2", "b", "text", "l", "user_message"),
            edge("e3", "c", "text", "l", "user_message"),
        ],
    )
    found = problems(g)
    assert [(p.code, p.edge_id, p.field) for p in found] == [
        ("multiple_edges_into_single_input", "e2", "user_message"),
        ("multiple_edges_into_single_input", "e3", "user_message"),
    ]
    assert "edges e1 and e2" in found[0].message


def test_many_edges_into_images_are_fine() -> None:
    g = graph(
        [node("i1", "upload_image"), node("i2", "upload_image"), node("l", "llm")],
        [edge("e1", "i1", "image", "l", "images"), edge("e2", "i2", "image", "l", "images")],
    )
    assert codes(g) == []


def test_duplicate_edge_is_reported_once_and_not_as_multiple() -> None:
    g = graph(
        [node("a", "text"), node("l", "llm")],
        [edge("e1", "a", "text", "l", "user_message"), edge("e2", "a", "text", "l", "user_message")],
    )
    (found,) = problems(g)
    assert (found.code, found.edge_id) == ("duplicate_edge", "e2")
    assert "repeats edge e1" in found.message


def test_cycle_message_lists_nodes() -> None:
    g = chain(["a", "b", "c"], [("a", "b"), ("b", "c"), ("c", "a")])
    (found,) = problems(g)
    assert (found.code, found.node_id) == ("cycle", "a")
    assert found.message.startswith("Connections form a cycle: a → b → c → a.")


def test_one_cycle_problem_per_cycle() -> None:
    g = chain(["a", "b", "x", "y", "z"], [("a", "b"), ("b", "a"), ("x", "y"), ("y", "x"), ("z", "z")])
    assert [(p.code, p.node_id) for p in problems(g)] == [("cycle", "a"), ("cycle", "x"), ("cycle", "z")]


def test_missing_required_input_only_when_asked() -> None:
    g = graph([node("l", "llm"), node("c", "crop_image"), node("f", "extract_frame")])
    assert codes(g) == []
    found = problems(g, require_inputs=True)
    assert [(p.code, p.node_id, p.field) for p in found] == [
        ("missing_required_input", "c", "image_url"),
        ("missing_required_input", "f", "video_url"),
        ("missing_required_input", "l", "user_message"),
    ]
    assert "type a value" in found[2].message and "type a value" not in found[0].message
    assert structural_problems(found) == []


@pytest.mark.parametrize(("value", "missing"), [("Hi", False), ("   ", True), ("", True)])
def test_typed_value_satisfies_editable_required_input(value: str, missing: bool) -> None:
    g = graph([node("l", "llm", user_message=value)])
    assert codes(g, require_inputs=True) == (["missing_required_input"] if missing else [])


def test_unknown_parameter() -> None:
    (found,) = problems(graph([node("l", "llm", images=["x"], temperature=1)]))
    assert (found.code, found.node_id, found.field) == ("unknown_parameter", "l", "images")


@pytest.mark.parametrize(
    ("node_type", "key", "value"),
    [
        ("text", "text", 5),
        ("text", "text", "x" * (MAX_TEXT_LENGTH + 1)),
        ("text", "input_name", "1abc"),
        ("text", "input_name", "has space"),
        ("text", "label", 7),
        ("text", "label", "x" * (MAX_LABEL_LENGTH + 1)),
        ("llm", "temperature", True),
        ("llm", "temperature", "0.5"),
        ("llm", "temperature", math.nan),
        ("llm", "temperature", None),
        ("llm", "model", 4),
        ("llm", "system_prompt", ["a"]),
        ("upload_image", "media_id", None),
        ("crop_image", "x_percent", "ten"),
        ("crop_image", "x_percent", False),
        ("extract_frame", "timestamp", "half"),
        ("extract_frame", "timestamp", "50 %%"),
        ("extract_frame", "timestamp", True),
    ],
)
def test_invalid_parameter(node_type: str, key: str, value: Any) -> None:
    (found,) = problems(graph([node("n1", node_type, **{key: value})]))
    assert (found.code, found.node_id, found.field) == ("invalid_parameter", "n1", key)
    assert "node n1" in found.message


@pytest.mark.parametrize(
    ("node_type", "key", "value"),
    [
        ("text", "input_name", ""),
        ("text", "input_name", "product_details"),
        ("text", "label", "x" * MAX_LABEL_LENGTH),
        ("llm", "temperature", 0),
        ("llm", "temperature", 2),
        ("crop_image", "width_percent", 55.5),
        ("extract_frame", "timestamp", 12.5),
        ("extract_frame", "timestamp", "12.5"),
        ("extract_frame", "timestamp", " 50% "),
        ("extract_frame", "timestamp", "100%"),
    ],
)
def test_valid_parameter(node_type: str, key: str, value: Any) -> None:
    assert codes(graph([node("n1", node_type, **{key: value})])) == []


@pytest.mark.parametrize(
    ("node_type", "key", "value"),
    [
        ("llm", "temperature", -0.1),
        ("llm", "temperature", 2.5),
        ("crop_image", "height_percent", 101),
        ("crop_image", "y_percent", -1),
        ("extract_frame", "timestamp", -3),
        ("extract_frame", "timestamp", "-3"),
        ("extract_frame", "timestamp", "150%"),
    ],
)
def test_parameter_out_of_range(node_type: str, key: str, value: Any) -> None:
    (found,) = problems(graph([node("n1", node_type, **{key: value})]))
    assert (found.code, found.field) == ("parameter_out_of_range", key)


def test_out_of_range_message_names_the_limit() -> None:
    (found,) = problems(graph([node("l", "llm", temperature=3)]))
    assert found.message == "Parameter 'temperature' of node l is 3, above the maximum of 2."


@pytest.mark.parametrize("bad_id", ["", "has space", "x" * 65, "é", "a/b"])
def test_invalid_node_and_edge_ids(bad_id: str) -> None:
    g = graph(
        [node(bad_id, "text"), node("l", "llm")],
        [edge(bad_id, bad_id, "text", "l", "user_message")],
    )
    found = [(p.code, p.node_id, p.edge_id) for p in problems(g)]
    assert found == [("invalid_id", bad_id, None), ("invalid_id", None, bad_id)]


def test_id_must_match_its_key() -> None:
    g = Graph(nodes={"a": Node(id="b", type="text", position=Position(0, 0))}, edges={})
    (found,) = problems(g)
    assert (found.code, found.node_id) == ("invalid_id", "a")


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_invalid_position(bad: float) -> None:
    g = Graph(nodes={"a": Node(id="a", type="text", position=Position(bad, 1.0))}, edges={})
    (found,) = problems(g)
    assert (found.code, found.node_id) == ("invalid_position", "a")


def test_every_problem_is_reported_at_once_in_a_stable_order() -> None:
    g = graph(
        [
            node("z", "text", text=3, colour="red"),
            node("l1", "llm", temperature=9),
            node("l2", "llm"),
            node("bad id", "mystery"),
            node("c", "crop_image"),
        ],
        [
            edge("e1", "c", "output", "l1", "user_message"),
            edge("e2", "z", "text", "l1", "system_prompt"),
            edge("e3", "l1", "output", "l2", "system_prompt"),
            edge("e4", "l2", "output", "l1", "system_prompt"),
            edge("e5", "z", "text", "ghost", "user_message"),
            edge("e6", "z", "text", "l2", "nope"),
        ],
    )
    found = [(p.code, p.node_id, p.edge_id, p.field) for p in problems(g, require_inputs=True)]
    assert found == [
        ("invalid_id", "bad id", None, None),
        ("unknown_node_type", "bad id", None, None),
        ("parameter_out_of_range", "l1", None, "temperature"),
        ("invalid_parameter", "z", None, "text"),
        ("unknown_parameter", "z", None, "colour"),
        ("incompatible_types", "l1", "e1", "user_message"),
        ("multiple_edges_into_single_input", "l1", "e4", "system_prompt"),
        ("dangling_edge", None, "e5", None),
        ("unknown_handle", "l2", "e6", "nope"),
        ("cycle", "l1", None, None),
        ("missing_required_input", "c", None, "image_url"),
        ("missing_required_input", "l2", None, "user_message"),
    ]
    again = [(p.code, p.node_id, p.edge_id, p.field) for p in problems(g, require_inputs=True)]
    assert again == found
    assert [p.code for p in structural_problems(problems(g, require_inputs=True))] == [
        code for code, *_ in found if code != "missing_required_input"
    ]


def test_problem_codes_are_the_documented_strings() -> None:
    assert {code.value for code in ProblemCode} == {
        "too_many_nodes",
        "too_many_edges",
        "unknown_node_type",
        "dangling_edge",
        "unknown_handle",
        "incompatible_types",
        "multiple_edges_into_single_input",
        "duplicate_edge",
        "cycle",
        "missing_required_input",
        "unknown_parameter",
        "invalid_parameter",
        "parameter_out_of_range",
        "invalid_id",
        "invalid_position",
    }


def test_graph_at_the_edge_limit_validates() -> None:
    # 500 nodes in a chain plus extra image edges: 2,000 edges in total.
    nodes = [node(f"l{i:03d}", "llm") for i in range(500)]
    images = [node(f"i{i:03d}", "upload_image") for i in range(500)]
    edges = [edge(f"c{i:03d}", f"l{i:03d}", "output", f"l{i + 1:03d}", "user_message") for i in range(499)]
    edges += [
        edge(f"x{i:04d}", f"i{i % 500:03d}", "image", f"l{(i % 500 + i // 500) % 500:03d}", "images")
        for i in range(1501)
    ]
    g = graph(nodes + images, edges)
    assert len(g.edges) == 2000
    found = validate_graph(g, REGISTRY, max_nodes=1000, require_inputs=True)
    assert [p.field for p in found] == ["user_message"]
