"""Property tests: random DAGs are acyclic and ordered; one back edge always makes a real cycle."""

from __future__ import annotations

from engine_testkit import edge, graph, node
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.graph import Graph
from engine.registry import NodeRegistry, builtin_registry
from engine.spec import NodeSpec, PortSpec, PortType
from engine.validate import validate_graph

# A text node that takes any number of texts, so random DAGs are valid whatever their fan-in.
JOIN = NodeSpec(
    type="join",
    label="Join",
    description="Joins texts.",
    category="test",
    version=1,
    inputs=(PortSpec(name="texts", type=PortType.TEXT, label="Texts", multiple=True),),
    outputs=(PortSpec(name="text", type=PortType.TEXT, label="Text"),),
)
REGISTRY = NodeRegistry([*builtin_registry(), JOIN])


@st.composite
def dags(draw: st.DrawFn) -> Graph:
    """Join nodes whose edges run only from a lower to a higher index."""
    size = draw(st.integers(min_value=1, max_value=25))
    # Shuffled ids so that the topological order cannot simply follow insertion or id order.
    ids = draw(st.permutations([f"n{i:02d}" for i in range(size)]))
    pairs = draw(
        st.sets(
            st.tuples(st.integers(0, size - 1), st.integers(0, size - 1)).filter(lambda p: p[0] < p[1]),
            max_size=60,
        )
        if size > 1
        else st.just(set[tuple[int, int]]())
    )
    edges = [edge(f"e{k:03d}", ids[a], "text", ids[b], "texts") for k, (a, b) in enumerate(sorted(pairs))]
    return graph([node(node_id, "join") for node_id in ids], edges)


def _edge_pairs(g: Graph) -> set[tuple[str, str]]:
    return {(e.source, e.target) for e in g.edges.values()}


@settings(max_examples=150, deadline=None)
@given(dags())
def test_random_dag_is_valid_and_topologically_ordered(g: Graph) -> None:
    assert validate_graph(g, REGISTRY) == []
    assert g.find_cycle() is None
    order = g.topological_order()
    assert sorted(order) == sorted(g.nodes)
    position = {node_id: index for index, node_id in enumerate(order)}
    for e in g.edges.values():
        assert position[e.source] < position[e.target]
    assert g.topological_order() == order
    for node_id in g.nodes:
        assert node_id not in g.upstream([node_id])
        assert g.upstream([node_id]).isdisjoint(g.downstream([node_id]))
    assert set(g.leaves()) == {n for n in g.nodes if not g.outgoing(n)}


@st.composite
def dags_with_back_edge(draw: st.DrawFn) -> tuple[Graph, list[str]]:
    """A random DAG plus a path through it, closed by one edge from its end back to its start."""
    g = draw(dags())
    order = g.topological_order()
    start = draw(st.sampled_from(order))
    path = [start]
    while True:
        successors = sorted({e.target for e in g.outgoing(path[-1])})
        if not successors or not draw(st.booleans()):
            break
        path.append(draw(st.sampled_from(successors)))
    g.edges["back"] = edge("back", path[-1], "text", path[0], "texts")
    return g, path


@settings(max_examples=150, deadline=None)
@given(dags_with_back_edge())
def test_back_edge_yields_a_real_cycle(case: tuple[Graph, list[str]]) -> None:
    g, path = case
    cycles = [p for p in validate_graph(g, REGISTRY) if p.code == "cycle"]
    assert len(cycles) == 1
    found = g.find_cycle()
    assert found is not None
    assert cycles[0].node_id == found[0]
    assert " → ".join([*found, found[0]]) in cycles[0].message
    pairs = _edge_pairs(g)
    assert len(set(found)) == len(found)
    for a, b in zip(found, [*found[1:], found[0]], strict=True):
        assert (a, b) in pairs
    # The one back edge is the only way to close a cycle, so every cycle must use it.
    assert path[-1] in found and path[0] in found
