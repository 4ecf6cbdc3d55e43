"""What a node runs with: its parameters and the values arriving at its inputs, and the cache key
derived from them (node type, spec version, parameters, resolved inputs)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import msgspec

from engine.graph import Adjacency, Node
from engine.nodes.base import NodeFailed
from engine.spec import NodeSpec, PortSpec, PortType
from engine.values import parse_number_text


def effective_params(node: Node, spec: NodeSpec, run_inputs: Mapping[str, str]) -> dict[str, Any]:
    """The node's parameters with defaults filled in; a Text node that is a workflow input takes
    the run's value for it when the run was given one."""
    params = {p.name: node.data.get(p.name, p.default) for p in spec.params}
    input_name = params.get("input_name")
    if isinstance(input_name, str) and input_name and input_name in run_inputs:
        params["text"] = run_inputs[input_name]
    return params


def _number(port: PortSpec, node_id: str, value: Any) -> Any:
    """Numbers fed by text are parsed here, at run time (validation allows text → number)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        parsed = parse_number_text(value, allow_percent=port.allow_percent)
        if parsed is not None:
            number, percent = parsed
            return value.strip() if percent else number
    shown = repr(value[:80]) if isinstance(value, str) else type(value).__name__
    hint = ' or a percentage such as "50%"' if port.allow_percent else ""
    raise NodeFailed(
        f"Input {port.name!r} of node {node_id} received {shown}, which is not a number{hint}. "
        "Change the text that feeds it.",
    )


def resolve_inputs(
    node: Node,
    spec: NodeSpec,
    adjacency: Adjacency,
    upstream_outputs: Mapping[str, Mapping[str, Any]],
) -> dict[str, Any]:
    """The value of every input port: from its connection(s), else typed on the node, else the
    default. Multi-valued inputs get a list, in edge id order. Raises `NodeFailed` when a value
    cannot be used (text that is not a number)."""
    connected: dict[str, list[Any]] = {}
    for edge in adjacency.incoming[node.id]:
        outputs = upstream_outputs.get(edge.source, {})
        connected.setdefault(edge.target_handle, []).append(outputs.get(edge.source_handle))
    values: dict[str, Any] = {}
    for port in spec.inputs:
        if port.name in connected:
            feed = connected[port.name]
            value: Any = feed if port.multiple else feed[0]
        elif port.multiple:
            value = []
        elif port.editable:
            value = node.data.get(port.name, port.default)
        else:
            value = None
        if port.type == PortType.NUMBER and value is not None and not port.multiple:
            value = _number(port, node.id, value)
        values[port.name] = value
    return values


def cache_key(spec: NodeSpec, params: Mapping[str, Any], inputs: Mapping[str, Any]) -> str:
    """A digest of everything that determines a node's outputs."""
    material = [spec.type, spec.version, dict(params), dict(inputs)]
    return hashlib.sha256(msgspec.json.encode(material, order="sorted")).hexdigest()
