"""Graph validation: every problem with a workflow, each in a sentence a person can act on."""

from __future__ import annotations

import enum
import math
import re

import msgspec

from engine.graph import Edge, Graph, Node, format_cycle
from engine.registry import NodeRegistry
from engine.spec import NodeSpec, PortSpec, can_connect
from engine.values import check_input_value, check_label, check_param, is_blank

_VALID_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")


class ProblemCode(enum.StrEnum):
    """The stable machine-readable codes of `Problem`."""

    TOO_MANY_NODES = "too_many_nodes"
    TOO_MANY_EDGES = "too_many_edges"
    UNKNOWN_NODE_TYPE = "unknown_node_type"
    DANGLING_EDGE = "dangling_edge"
    UNKNOWN_HANDLE = "unknown_handle"
    INCOMPATIBLE_TYPES = "incompatible_types"
    MULTIPLE_EDGES_INTO_SINGLE_INPUT = "multiple_edges_into_single_input"
    DUPLICATE_EDGE = "duplicate_edge"
    CYCLE = "cycle"
    MISSING_REQUIRED_INPUT = "missing_required_input"
    UNKNOWN_PARAMETER = "unknown_parameter"
    INVALID_PARAMETER = "invalid_parameter"
    PARAMETER_OUT_OF_RANGE = "parameter_out_of_range"
    INVALID_ID = "invalid_id"
    INVALID_POSITION = "invalid_position"


class Problem(msgspec.Struct, frozen=True, kw_only=True):
    """One thing wrong with a graph; `field` names the port or parameter concerned."""

    code: str
    message: str
    node_id: str | None = None
    edge_id: str | None = None
    field: str | None = None


def validate_graph(
    graph: Graph,
    registry: NodeRegistry,
    *,
    max_nodes: int = 500,
    max_edges: int = 2000,
    require_inputs: bool = False,
) -> list[Problem]:
    """Every problem with `graph`, in a deterministic order.

    The order is: size limits, then each node (sorted by id), then each edge (sorted by id),
    then cycles, then (only with `require_inputs`, used before a run) missing required inputs.
    A graph over the size limits gets only the size problems, since checking it further would
    let an oversized document cost unbounded work.
    """
    problems = _size_problems(graph, max_nodes, max_edges)
    if problems:
        return problems
    specs = {node_id: registry.get(node.type) for node_id, node in graph.nodes.items()}
    for node_id in sorted(graph.nodes):
        problems.extend(_node_problems(node_id, graph.nodes[node_id], specs[node_id], registry))
    problems.extend(_edge_problems(graph, specs))
    for cycle in graph.find_cycles():
        problems.append(
            Problem(
                code=ProblemCode.CYCLE,
                message=f"Connections form a cycle: {format_cycle(cycle)}. Remove one of these connections.",
                node_id=cycle[0],
            )
        )
    if require_inputs:
        problems.extend(_missing_inputs(graph, specs))
    return problems


def structural_problems(problems: list[Problem]) -> list[Problem]:
    """The problems that make a graph unusable, not merely not ready to run.

    Importing a workflow tolerates unconnected required inputs but nothing else.
    """
    return [problem for problem in problems if problem.code != ProblemCode.MISSING_REQUIRED_INPUT]


def _size_problems(graph: Graph, max_nodes: int, max_edges: int) -> list[Problem]:
    problems: list[Problem] = []
    if len(graph.nodes) > max_nodes:
        problems.append(
            Problem(
                code=ProblemCode.TOO_MANY_NODES,
                message=f"The workflow has {len(graph.nodes)} nodes; the limit is {max_nodes}.",
            )
        )
    if len(graph.edges) > max_edges:
        problems.append(
            Problem(
                code=ProblemCode.TOO_MANY_EDGES,
                message=f"The workflow has {len(graph.edges)} connections; the limit is {max_edges}.",
            )
        )
    return problems


def _id_problem(kind: str, key: str, stored_id: str, *, is_node: bool) -> Problem | None:
    owner = {"node_id": key} if is_node else {"edge_id": key}
    if _VALID_ID.fullmatch(key) is None:
        return Problem(
            code=ProblemCode.INVALID_ID,
            message=(f"{kind} id {key!r} is not valid: use 1 to 64 letters, digits or the characters _ . : -."),
            **owner,
        )
    if stored_id != key:
        return Problem(
            code=ProblemCode.INVALID_ID,
            message=f"{kind} {key} names itself {stored_id!r}; its id and its key must match.",
            **owner,
        )
    return None


def _node_problems(node_id: str, node: Node, spec: NodeSpec | None, registry: NodeRegistry) -> list[Problem]:
    problems: list[Problem] = []
    id_problem = _id_problem("Node", node_id, node.id, is_node=True)
    if id_problem is not None:
        problems.append(id_problem)
    x, y = node.position.x, node.position.y
    if not (_is_finite(x) and _is_finite(y)):
        problems.append(
            Problem(
                code=ProblemCode.INVALID_POSITION,
                message=f"Node {node_id} has position ({x}, {y}); both coordinates must be finite numbers.",
                node_id=node_id,
            )
        )
    if spec is None:
        known = ", ".join(registry.types())
        problems.append(
            Problem(
                code=ProblemCode.UNKNOWN_NODE_TYPE,
                message=f"Node {node_id} has unknown type {node.type!r}; known types are: {known}.",
                node_id=node_id,
            )
        )
        return problems
    problems.extend(_data_problems(node_id, node, spec))
    return problems


def _is_finite(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _data_problems(node_id: str, node: Node, spec: NodeSpec) -> list[Problem]:
    data = node.data
    checks: list[tuple[str, str, tuple[str, str] | None]] = []
    if "label" in data:
        checks.append(("label", "Label", check_label(data["label"])))
    for port in spec.inputs:
        if port.editable and port.name in data:
            checks.append((port.name, f"Input {port.name!r}", check_input_value(port, data[port.name])))
    for param in spec.params:
        if param.name in data:
            checks.append((param.name, f"Parameter {param.name!r}", check_param(param, data[param.name])))
    problems = [
        Problem(code=finding[0], message=f"{what} of node {node_id} {finding[1]}", node_id=node_id, field=key)
        for key, what, finding in checks
        if finding is not None
    ]
    allowed = spec.data_keys()
    for key in sorted(k for k in data if k not in allowed):
        problems.append(
            Problem(
                code=ProblemCode.UNKNOWN_PARAMETER,
                message=(
                    f"Node {node_id} ({spec.label}) has an unknown field {key!r}; "
                    f"allowed fields are: {', '.join(sorted(allowed))}."
                ),
                node_id=node_id,
                field=key,
            )
        )
    return problems


def _edge_problems(graph: Graph, specs: dict[str, NodeSpec | None]) -> list[Problem]:
    problems: list[Problem] = []
    seen: dict[tuple[str, str, str, str], str] = {}
    # (target node, input name) -> first edge feeding it, to spot extra edges into single inputs.
    fed: dict[tuple[str, str], str] = {}
    for edge_id in sorted(graph.edges):
        edge = graph.edges[edge_id]
        id_problem = _id_problem("Edge", edge_id, edge.id, is_node=False)
        if id_problem is not None:
            problems.append(id_problem)
        if edge.source not in graph.nodes or edge.target not in graph.nodes:
            problems.append(_dangling(edge_id, edge, graph))
            continue
        source_spec, target_spec = specs[edge.source], specs[edge.target]
        output = source_spec.output(edge.source_handle) if source_spec is not None else None
        port = target_spec.input(edge.target_handle) if target_spec is not None else None
        if source_spec is not None and output is None:
            problems.append(_unknown_handle(edge_id, edge.source, edge.source_handle, source_spec, output=True))
        if target_spec is not None and port is None:
            problems.append(_unknown_handle(edge_id, edge.target, edge.target_handle, target_spec, output=False))
        if output is not None and port is not None and not can_connect(output.type, port.type):
            problems.append(_incompatible(edge_id, edge, output, port))
        key = (edge.source, edge.source_handle, edge.target, edge.target_handle)
        if key in seen:
            problems.append(
                Problem(
                    code=ProblemCode.DUPLICATE_EDGE,
                    message=(
                        f"Edge {edge_id} repeats edge {seen[key]}: both connect output "
                        f"{edge.source_handle!r} of node {edge.source} to input {edge.target_handle!r} "
                        f"of node {edge.target}. Remove edge {edge_id}."
                    ),
                    node_id=edge.target,
                    edge_id=edge_id,
                    field=edge.target_handle,
                )
            )
            continue
        seen[key] = edge_id
        if port is None or port.multiple:
            continue
        first = fed.setdefault((edge.target, port.name), edge_id)
        if first != edge_id:
            problems.append(
                Problem(
                    code=ProblemCode.MULTIPLE_EDGES_INTO_SINGLE_INPUT,
                    message=(
                        f"Input {port.name!r} of node {edge.target} accepts one connection, but edges "
                        f"{first} and {edge_id} both feed it. Remove edge {edge_id}."
                    ),
                    node_id=edge.target,
                    edge_id=edge_id,
                    field=port.name,
                )
            )
    return problems


def _dangling(edge_id: str, edge: Edge, graph: Graph) -> Problem:
    missing = [node_id for node_id in (edge.source, edge.target) if node_id not in graph.nodes]
    if len(missing) == 2:
        detail = f"connects nodes {edge.source!r} and {edge.target!r}, neither of which exists"
    elif missing[0] == edge.source:
        detail = f"comes from node {edge.source!r}, which does not exist"
    else:
        detail = f"goes to node {edge.target!r}, which does not exist"
    return Problem(
        code=ProblemCode.DANGLING_EDGE,
        message=f"Edge {edge_id} {detail}. Remove the edge or restore the node.",
        edge_id=edge_id,
    )


def _unknown_handle(edge_id: str, node_id: str, handle: str, spec: NodeSpec, *, output: bool) -> Problem:
    side, ports = ("output", spec.outputs) if output else ("input", spec.inputs)
    names = ", ".join(repr(port.name) for port in ports) or "none"
    direction = "leaves" if output else "enters"
    return Problem(
        code=ProblemCode.UNKNOWN_HANDLE,
        message=(
            f"Edge {edge_id} {direction} node {node_id} through {handle!r}, but a {spec.label} node has "
            f"no {side} with that name ({side}s: {names})."
        ),
        node_id=node_id,
        edge_id=edge_id,
        field=handle,
    )


def _incompatible(edge_id: str, edge: Edge, output: PortSpec, port: PortSpec) -> Problem:
    return Problem(
        code=ProblemCode.INCOMPATIBLE_TYPES,
        message=(
            f"Edge {edge_id} connects {output.type} output {output.name!r} of node {edge.source} to "
            f"{port.type} input {port.name!r} of node {edge.target}: {output.type} cannot feed {port.type}."
        ),
        node_id=edge.target,
        edge_id=edge_id,
        field=port.name,
    )


def _missing_inputs(graph: Graph, specs: dict[str, NodeSpec | None]) -> list[Problem]:
    connected = {(edge.target, edge.target_handle) for edge in graph.edges.values() if edge.source in graph.nodes}
    problems: list[Problem] = []
    for node_id in sorted(graph.nodes):
        spec = specs[node_id]
        if spec is None:
            continue
        data = graph.nodes[node_id].data
        for port in spec.inputs:
            if not port.required or (node_id, port.name) in connected:
                continue
            if port.editable and not is_blank(data.get(port.name, port.default)):
                continue
            remedy = f"connect a {port.type} output to it"
            if port.editable:
                remedy += " or type a value"
            problems.append(
                Problem(
                    code=ProblemCode.MISSING_REQUIRED_INPUT,
                    message=f"Node {node_id} ({spec.label}) needs input {port.name!r}: {remedy}.",
                    node_id=node_id,
                    field=port.name,
                )
            )
    return problems
