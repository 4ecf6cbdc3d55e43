"""The workflow graph as JSON, defined once: the export/import file, the graph of a workflow
read over the API and the snapshot a run keeps of the graph it executes all use these Structs.

A graph read from a live document may hold a node whose position is not a finite number (a
client wrote something else); it is written as `null` and reads back as NaN, which validation
reports, so an export always succeeds and an import of such a file fails with that problem.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

import msgspec

from engine.graph import Edge, Graph, Node, Position
from server.text import DISPLAY_TEXT

FORMAT = "galaxy.workflow"
FORMAT_VERSION = 1

Id = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
NodeType = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class GraphPosition(msgspec.Struct, forbid_unknown_fields=True):
    x: float | None
    y: float | None


class GraphNode(msgspec.Struct, forbid_unknown_fields=True):
    id: Id
    type: NodeType
    position: GraphPosition
    data: dict[str, Any] = msgspec.field(default_factory=dict)


class GraphEdge(msgspec.Struct, forbid_unknown_fields=True):
    id: Id
    source: Id
    source_handle: str = msgspec.field(name="sourceHandle")
    target: Id
    target_handle: str = msgspec.field(name="targetHandle")


class GraphJson(msgspec.Struct, forbid_unknown_fields=True):
    """Nodes and edges, each list ordered by id so that exports are stable."""

    nodes: list[GraphNode]
    edges: list[GraphEdge]


class WorkflowFile(msgspec.Struct, forbid_unknown_fields=True):
    """The export/import format, version 1: a named graph."""

    format: str
    version: int
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=DISPLAY_TEXT)]
    nodes: list[GraphNode]
    edges: list[GraphEdge]


def _coordinate_out(value: float) -> float | int | None:
    if not math.isfinite(value):
        return None
    return int(value) if value.is_integer() and abs(value) <= 2**53 else value


def _coordinate_in(value: float | None) -> float:
    return math.nan if value is None else float(value)


def graph_json(graph: Graph) -> GraphJson:
    return GraphJson(
        nodes=[
            GraphNode(
                id=n.id,
                type=n.type,
                position=GraphPosition(x=_coordinate_out(n.position.x), y=_coordinate_out(n.position.y)),
                data=n.data,
            )
            for n in sorted(graph.nodes.values(), key=lambda n: n.id)
        ],
        edges=[
            GraphEdge(
                id=e.id, source=e.source, source_handle=e.source_handle, target=e.target, target_handle=e.target_handle
            )
            for e in sorted(graph.edges.values(), key=lambda e: e.id)
        ],
    )


def graph_of(nodes: list[GraphNode], edges: list[GraphEdge]) -> Graph:
    """The engine graph of JSON nodes and edges (a later duplicate id wins; callers that must
    refuse duplicates check first)."""
    return Graph(
        nodes={
            n.id: Node(
                id=n.id,
                type=n.type,
                position=Position(x=_coordinate_in(n.position.x), y=_coordinate_in(n.position.y)),
                data=n.data,
            )
            for n in nodes
        },
        edges={
            e.id: Edge(
                id=e.id, source=e.source, source_handle=e.source_handle, target=e.target, target_handle=e.target_handle
            )
            for e in edges
        },
    )


def workflow_file(name: str, graph: Graph) -> WorkflowFile:
    body = graph_json(graph)
    return WorkflowFile(format=FORMAT, version=FORMAT_VERSION, name=name, nodes=body.nodes, edges=body.edges)


_graph_decoder = msgspec.json.Decoder(GraphJson)


def decode_graph(raw: str | bytes) -> Graph:
    """A graph stored as JSON text (a run's snapshot)."""
    snapshot = _graph_decoder.decode(raw)
    return graph_of(snapshot.nodes, snapshot.edges)


def encode_graph(graph: Graph) -> str:
    return msgspec.json.encode(graph_json(graph)).decode()
