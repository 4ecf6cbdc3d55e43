"""Planning: which nodes a run executes and which reuse earlier outputs.

A full run executes every node. A selected or single run executes the chosen nodes, and each of
their upstream nodes either reuses its latest successful output — when that output's cache key
equals the key the node would have now — or executes too. An upstream node fed by a node that
executes must execute as well, since its inputs are not known yet.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import Any

import msgspec

from engine.graph import Graph
from engine.nodes.base import NodeFailed
from engine.registry import NodeRegistry
from engine.resolve import cache_key, effective_params, resolve_inputs


class Scope(enum.StrEnum):
    FULL = "full"
    SELECTED = "selected"
    SINGLE = "single"


class ScopeError(ValueError):
    """The scope and node ids of a run request do not fit the graph."""


class CachedOutput(msgspec.Struct, frozen=True):
    """A node's latest successful output and the cache key it was produced under."""

    cache_key: str
    outputs: dict[str, Any]


class PlannedNode(msgspec.Struct, kw_only=True):
    """One node of a run: executed (`cached` False) or reusing `outputs` from an earlier run."""

    node_id: str
    node_type: str
    cached: bool = False
    cache_key: str = ""
    inputs: dict[str, Any] = msgspec.field(default_factory=dict)
    outputs: dict[str, Any] = msgspec.field(default_factory=dict)
    # Predecessors that execute in this run: the node is ready once they all succeeded.
    waits_for: int = 0


class Plan(msgspec.Struct):
    """The nodes of a run in topological order."""

    scope: Scope
    targets: list[str]
    nodes: dict[str, PlannedNode]

    def executed(self) -> list[str]:
        return [node_id for node_id, node in self.nodes.items() if not node.cached]

    def cached(self) -> list[str]:
        return [node_id for node_id, node in self.nodes.items() if node.cached]


CacheLookup = Callable[[Collection[str]], Awaitable[Mapping[str, CachedOutput]]]


def targets_for(graph: Graph, scope: Scope, node_ids: Collection[str]) -> list[str]:
    """The nodes a run was asked to execute; raises `ScopeError` when the request is malformed."""
    if scope == Scope.FULL:
        if node_ids:
            raise ScopeError("A full run takes no node_ids; use scope 'selected' to run some nodes.")
        if not graph.nodes:
            raise ScopeError("The workflow has no nodes to run.")
        return sorted(graph.nodes)
    if scope == Scope.SINGLE and len(node_ids) != 1:
        raise ScopeError(f"A single run takes exactly one node id, not {len(node_ids)}.")
    if scope == Scope.SELECTED and not node_ids:
        raise ScopeError("A selected run needs at least one node id in node_ids.")
    unknown = sorted(set(node_ids) - set(graph.nodes))
    if unknown:
        shown = ", ".join(repr(n[:64]) for n in unknown[:10])
        raise ScopeError(f"These node ids are not in the workflow: {shown}.")
    return sorted(set(node_ids))


async def plan_run(
    graph: Graph,
    registry: NodeRegistry,
    scope: Scope,
    node_ids: Collection[str],
    run_inputs: Mapping[str, str],
    lookup: CacheLookup,
) -> Plan:
    """Plan a run of a valid (acyclic, known types) graph."""
    targets = targets_for(graph, scope, node_ids)
    members = set(targets) | graph.upstream(targets)
    order = [node_id for node_id in graph.topological_order() if node_id in members]
    adjacency = graph.adjacency()
    target_set = set(targets)
    upstream_only = [node_id for node_id in order if node_id not in target_set]
    latest = await lookup(upstream_only) if upstream_only else {}
    nodes: dict[str, PlannedNode] = {}
    for node_id in order:
        node = graph.nodes[node_id]
        spec = registry.get(node.type)
        if spec is None:
            raise ScopeError(f"Node {node_id} has unknown type {node.type!r}.")
        preds = adjacency.predecessors[node_id]
        executing_preds = sum(1 for p in preds if not nodes[p].cached)
        planned = PlannedNode(node_id=node_id, node_type=node.type, waits_for=executing_preds)
        previous = latest.get(node_id)
        if node_id not in target_set and executing_preds == 0 and previous is not None:
            params = effective_params(node, spec, run_inputs)
            try:
                inputs = resolve_inputs(node, spec, adjacency, {p: nodes[p].outputs for p in preds})
            except NodeFailed:
                inputs = None
            if inputs is not None:
                key = cache_key(spec, params, inputs)
                if key == previous.cache_key:
                    planned.cached = True
                    planned.cache_key = key
                    planned.inputs = {**params, **inputs}
                    planned.outputs = previous.outputs
        nodes[node_id] = planned
    return Plan(scope=scope, targets=targets, nodes=nodes)
