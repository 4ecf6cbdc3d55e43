"""Small builders for engine tests, so each test states only the graph it cares about."""

from __future__ import annotations

from typing import Any

from engine.graph import Edge, Graph, Node, Position


def node(node_id: str, node_type: str = "text", **data: Any) -> Node:
    """A node at the origin with the given data."""
    return Node(id=node_id, type=node_type, position=Position(0.0, 0.0), data=dict(data))


def edge(edge_id: str, source: str, source_handle: str, target: str, target_handle: str) -> Edge:
    """An edge from `source.source_handle` to `target.target_handle`."""
    return Edge(
        id=edge_id,
        source=source,
        source_handle=source_handle,
        target=target,
        target_handle=target_handle,
    )


def graph(nodes: list[Node], edges: list[Edge] | None = None) -> Graph:
    """A graph keyed by the ids of the given nodes and edges."""
    return Graph(nodes={n.id: n for n in nodes}, edges={e.id: e for e in edges or []})


def chain(node_ids: list[str], pairs: list[tuple[str, str]]) -> Graph:
    """A graph of LLM nodes where each pair is an edge from `output` to `user_message`."""
    edges = [edge(f"e{i}", source, "output", target, "user_message") for i, (source, target) in enumerate(pairs)]
    return graph([node(node_id, "llm") for node_id in node_ids], edges)
