from __future__ import annotations

import itertools

import msgspec
import pytest
from engine_testkit import chain, edge, graph, node

from engine.graph import CycleError, Graph, Node, Position


def test_node_data_defaults_to_a_fresh_dict() -> None:
    a = Node(id="a", type="text", position=Position(1, 2))
    b = Node(id="b", type="text", position=Position(1, 2))
    a.data["label"] = "A"
    assert b.data == {}


def test_graph_round_trips_through_json() -> None:
    g = chain(["a", "b"], [("a", "b")])
    decoded = msgspec.json.decode(msgspec.json.encode(g), type=Graph)
    assert decoded == g


def test_incoming_and_outgoing_ignore_dangling_edges() -> None:
    g = chain(["a", "b", "c"], [("a", "c"), ("b", "c"), ("c", "ghost")])
    assert [e.id for e in g.incoming("c")] == ["e0", "e1"]
    assert [e.id for e in g.outgoing("c")] == []
    assert [e.id for e in g.outgoing("a")] == ["e0"]
    assert g.incoming("ghost") == []
    adjacency = g.adjacency()
    assert adjacency.successors == {"a": ["c"], "b": ["c"], "c": []}
    assert adjacency.predecessors["c"] == ["a", "b"]
    assert [e.id for e in adjacency.incoming["c"]] == ["e0", "e1"]


def test_topological_order_breaks_ties_by_node_id() -> None:
    g = chain(["d", "c", "b", "a", "z"], [("d", "a"), ("c", "a"), ("z", "b")])
    assert g.topological_order() == ["c", "d", "a", "z", "b"]


def test_topological_order_does_not_depend_on_insertion_order() -> None:
    pairs = [("n3", "n1"), ("n2", "n1"), ("n4", "n2"), ("n4", "n3")]
    forward = chain(["n1", "n2", "n3", "n4"], pairs)
    backward = chain(["n4", "n3", "n2", "n1"], list(reversed(pairs)))
    assert forward.topological_order() == backward.topological_order() == ["n4", "n2", "n3", "n1"]


def test_duplicate_edges_do_not_confuse_topological_order() -> None:
    g = chain(["a", "b"], [("a", "b"), ("a", "b")])
    assert g.topological_order() == ["a", "b"]


def test_topological_order_raises_cycle_error() -> None:
    g = chain(["a", "b", "c", "d"], [("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")])
    with pytest.raises(CycleError) as caught:
        g.topological_order()
    assert caught.value.cycle == ["a", "b", "c"]
    assert "a → b → c → a" in str(caught.value)


def test_find_cycle_none_for_dag_and_self_loop() -> None:
    assert chain(["a", "b"], [("a", "b")]).find_cycle() is None
    assert chain(["a"], [("a", "a")]).find_cycle() == ["a"]


def test_find_cycles_reports_one_per_component_shortest_first() -> None:
    g = chain(
        ["a", "b", "c", "x", "y"],
        [("a", "b"), ("b", "c"), ("c", "a"), ("b", "a"), ("x", "y"), ("y", "x"), ("c", "x")],
    )
    assert g.find_cycles() == [["a", "b"], ["x", "y"]]


def test_find_cycle_ignores_edges_to_missing_nodes() -> None:
    g = graph([node("a", "llm")], [edge("e", "a", "output", "ghost", "user_message")])
    assert g.find_cycle() is None
    assert g.topological_order() == ["a"]


def test_upstream_downstream_and_leaves() -> None:
    #  a → b → d
    #  c ↗     e (isolated)
    g = chain(["a", "b", "c", "d", "e"], [("a", "b"), ("c", "b"), ("b", "d")])
    assert g.upstream(["d"]) == {"a", "b", "c"}
    assert g.upstream(["b"]) == {"a", "c"}
    assert g.upstream(["a", "b"]) == {"a", "c"}
    assert g.downstream(["a"]) == {"b", "d"}
    assert g.downstream(["d", "ghost"]) == set()
    assert g.leaves() == ["d", "e"]


def test_large_chain_has_no_recursion_limit() -> None:
    ids = [f"n{i:05d}" for i in range(10_000)]
    g = chain(ids, list(itertools.pairwise(ids)))
    assert g.topological_order() == ids
    assert g.find_cycle() is None
    assert len(g.upstream([ids[-1]])) == len(ids) - 1
    g.edges["back"] = edge("back", ids[-1], "output", ids[0], "user_message")
    cycle = g.find_cycle()
    assert cycle is not None and len(cycle) == len(ids)
