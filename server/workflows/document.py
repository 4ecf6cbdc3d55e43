"""The workflow document: Yjs (pycrdt) ↔ engine Graph ↔ the versioned export format.

Document schema (shared with the editor, see ARCHITECTURE.md):
  nodes: Map  node id → Map {type: str, position: {x, y}, data: Map of parameters}
  edges: Map  edge id → Map {source, sourceHandle, target, targetHandle}
  meta:  Map  {name}
Multi-line text parameters are Y.Text so that people typing into the same prompt at the same
time merge character by character; every other value is a plain JSON value.

Reading is total: whatever a client wrote into the document comes back as a Graph, and
anything malformed surfaces as a validation problem instead of an exception. Reading also
sanitises: every string that leaves the document is one Postgres can store (no NUL), and the
name is a display name (no control, bidi or zero-width characters; never empty).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, Protocol

import msgspec
from pycrdt import Array, Doc, Map, Text

from collab.store import load_document
from engine.graph import Edge, Graph, Node, Position
from engine.registry import NodeRegistry
from engine.spec import NodeSpec, ParamKind
from engine.validate import Problem, structural_problems, validate_graph
from server.text import safe_name, storable
from server.workflows.format import FORMAT, FORMAT_VERSION, WorkflowFile, graph_of

UNTITLED = "Untitled workflow"


class DocumentError(Exception):
    """An import file or graph that cannot become a workflow; `problems` says why."""

    def __init__(self, message: str, problems: list[dict[str, Any]]) -> None:
        super().__init__(message)
        self.problems = problems


class UnreadableFile(DocumentError):
    """An import file that is not JSON at all."""

    def __init__(self, message: str) -> None:
        super().__init__(message, [])


def _problem_dict(p: Problem) -> dict[str, Any]:
    return {k: v for k, v in msgspec.structs.asdict(p).items() if v is not None}


MAX_VALUE_DEPTH = 16


def _plain(value: Any, depth: int = 0) -> Any:
    """A CRDT or JSON value as plain JSON: Y.Text becomes a string, and integral floats become ints
    (JSON has one number type; the CRDT reads every number back as a float). Anything JSON cannot
    hold — XML types, subdocuments, bytes, absurd nesting — becomes None, which validation reports."""
    if depth > MAX_VALUE_DEPTH:
        return None
    if isinstance(value, Text):
        return storable(str(value))
    if isinstance(value, str):
        return storable(value)
    if isinstance(value, Map | dict):
        return {storable(str(k)): _plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, Array | list):
        return [_plain(v, depth + 1) for v in value]
    if isinstance(value, float):
        return int(value) if value.is_integer() and abs(value) <= 2**53 else value
    if value is None or isinstance(value, bool | int):
        return value
    return None


class Specs(Protocol):
    """Where node specs are looked up: a `NodeRegistry`, or a plain dict (which can be pickled
    to a document worker process)."""

    def get(self, node_type: str, /) -> NodeSpec | None: ...


def spec_table(registry: NodeRegistry) -> dict[str, NodeSpec]:
    return {spec.type: spec for spec in registry.specs()}


def text_keys(spec: NodeSpec | None) -> frozenset[str]:
    """Data keys stored as Y.Text: multi-line text parameters and multi-line editable inputs."""
    if spec is None:
        return frozenset()
    keys = {p.name for p in spec.params if p.kind == ParamKind.TEXT}
    keys.update(port.name for port in spec.inputs if port.editable and port.multiline)
    return frozenset(keys)


# --- Graph → document -------------------------------------------------------------------


def _node_map(node: Node, registry: Specs) -> Map[Any]:
    texts = text_keys(registry.get(node.type))
    data = {k: Text(v) if k in texts and isinstance(v, str) else v for k, v in node.data.items()}
    return Map(
        {
            "type": node.type,
            "position": {"x": node.position.x, "y": node.position.y},
            "data": Map(data),
        }
    )


def _edge_map(edge: Edge) -> Map[Any]:
    return Map(
        {
            "source": edge.source,
            "sourceHandle": edge.source_handle,
            "target": edge.target,
            "targetHandle": edge.target_handle,
        }
    )


def new_document(graph: Graph, name: str, registry: Specs) -> Doc[Any]:
    """A fresh document holding `graph` and `name`."""
    doc: Doc[Any] = Doc()
    nodes = doc.get("nodes", type=Map)
    edges = doc.get("edges", type=Map)
    meta = doc.get("meta", type=Map)
    with doc.transaction(origin="server"):
        meta["name"] = name
        for node in graph.nodes.values():
            nodes[node.id] = _node_map(node, registry)
        for edge in graph.edges.values():
            edges[edge.id] = _edge_map(edge)
    return doc


def set_name(doc: Doc[Any], name: str) -> None:
    with doc.transaction(origin="server"):
        doc.get("meta", type=Map)["name"] = name


def replace_graph(doc: Doc[Any], graph: Graph, registry: Specs) -> None:
    """Make `doc` hold exactly `graph`, touching only what differs (a restore is a normal edit)."""
    nodes = doc.get("nodes", type=Map)
    edges = doc.get("edges", type=Map)
    current = document_graph(doc)
    with doc.transaction(origin="server"):
        for edge_id in [e for e in edges.keys() if e not in graph.edges]:
            del edges[edge_id]
        for node_id in [n for n in nodes.keys() if n not in graph.nodes]:
            del nodes[node_id]
        for node in graph.nodes.values():
            if current.nodes.get(node.id) != node:
                nodes[node.id] = _node_map(node, registry)
        for edge in graph.edges.values():
            if current.edges.get(edge.id) != edge:
                edges[edge.id] = _edge_map(edge)


# --- document → Graph -------------------------------------------------------------------


def _number(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else math.nan


def _str(value: Any) -> str:
    return storable(value) if isinstance(value, str) else ""


def _entry(raw: Any) -> dict[str, Any]:
    """One node or edge entry as plain JSON; a malformed one reads as empty (and fails validation)."""
    try:
        value = _plain(raw) if isinstance(raw, Map) else None
    except (ValueError, TypeError, RecursionError):
        value = None
    return value if isinstance(value, dict) else {}


def document_name(doc: Doc[Any]) -> str:
    """The workflow's name as a display name (whatever a member wrote into `meta.name`)."""
    return safe_name(doc.get("meta", type=Map).get("name"), UNTITLED)


def document_graph(doc: Doc[Any]) -> Graph:
    """The graph the document holds right now; malformed entries become invalid nodes/edges."""
    nodes: dict[str, Node] = {}
    for key, raw in doc.get("nodes", type=Map).items():
        node_id = storable(key)
        entry = _entry(raw)
        position = entry.get("position")
        position = position if isinstance(position, dict) else {}
        data = entry.get("data")
        nodes[node_id] = Node(
            id=node_id,
            type=_str(entry.get("type")),
            position=Position(x=_number(position.get("x")), y=_number(position.get("y"))),
            data=data if isinstance(data, dict) else {},
        )
    edges: dict[str, Edge] = {}
    for key, raw in doc.get("edges", type=Map).items():
        edge_id = storable(key)
        entry = _entry(raw)
        edges[edge_id] = Edge(
            id=edge_id,
            source=_str(entry.get("source")),
            source_handle=_str(entry.get("sourceHandle")),
            target=_str(entry.get("target")),
            target_handle=_str(entry.get("targetHandle")),
        )
    return Graph(nodes=nodes, edges=edges)


# --- import -----------------------------------------------------------------------------


def _duplicates(ids: Iterable[str], kind: str) -> list[dict[str, Any]]:
    seen: set[str] = set()
    problems = []
    for item_id in ids:
        if item_id in seen:
            key = "node_id" if kind == "node" else "edge_id"
            problems.append({"code": "duplicate_id", "message": f"Two {kind}s share the id {item_id!r}.", key: item_id})
        seen.add(item_id)
    return problems


def _decode_error_message(raw: bytes, err: msgspec.ValidationError) -> str:
    """msgspec names a JSON path like `$.nodes[3].position`; add the node or edge id."""
    message = str(err)
    marker = " - at `$."
    if marker not in message:
        return message
    path = message.split(marker, 1)[1].rstrip("`")
    for kind in ("nodes", "edges"):
        if path.startswith(f"{kind}["):
            index = int(path[len(kind) + 1 : path.index("]")])
            try:
                items = msgspec.json.decode(raw).get(kind, [])
                item_id = items[index].get("id") if isinstance(items[index], dict) else None
            except (msgspec.DecodeError, AttributeError, IndexError, TypeError):
                item_id = None
            if isinstance(item_id, str):
                return f"{message} ({kind[:-1]} {item_id!r})"
    return message


def parse_workflow_file(raw: bytes, registry: NodeRegistry, *, max_nodes: int, max_edges: int) -> tuple[str, Graph]:
    """Validate an export file strictly; return its name and graph or raise DocumentError."""
    try:
        head = msgspec.json.decode(raw)
    except msgspec.DecodeError as err:
        raise UnreadableFile(f"The file is not valid JSON: {err}.") from None
    except RecursionError:
        raise UnreadableFile("The file is not valid JSON: it is nested too deeply.") from None
    if not isinstance(head, dict):
        raise DocumentError("The file must be a JSON object.", [])
    if head.get("format") != FORMAT:
        raise DocumentError(f'This is not a Galaxy workflow file: "format" must be "{FORMAT}".', [])
    if head.get("version") != FORMAT_VERSION:
        raise DocumentError(
            f"Unsupported workflow file version {head.get('version')!r}: this server reads version {FORMAT_VERSION}.",
            [],
        )
    try:
        file = msgspec.json.decode(raw, type=WorkflowFile)
    except msgspec.ValidationError as err:
        raise DocumentError(_decode_error_message(raw, err), []) from None
    problems = _duplicates((n.id for n in file.nodes), "node") + _duplicates((e.id for e in file.edges), "edge")
    graph = graph_of(file.nodes, file.edges)
    problems += [_problem_dict(p) for p in check_graph(graph, registry, max_nodes=max_nodes, max_edges=max_edges)]
    if problems:
        first = problems[0]["message"]
        more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
        raise DocumentError(f"The workflow file is not valid: {first}{more}", problems)
    return file.name, graph


def check_graph(graph: Graph, registry: NodeRegistry, *, max_nodes: int, max_edges: int) -> list[Problem]:
    """Problems that make a graph unfit to be stored (a missing required input is allowed)."""
    return structural_problems(validate_graph(graph, registry, max_nodes=max_nodes, max_edges=max_edges))


def problems_as_dicts(problems: list[Problem]) -> list[dict[str, Any]]:
    return [_problem_dict(p) for p in problems]


def encode_state(doc: Doc[Any]) -> bytes:
    return doc.get_update()


def decode_state(snapshot: bytes | None, updates: Iterable[bytes] = ()) -> Doc[Any]:
    return load_document([part for part in (snapshot, *updates) if part])
