"""The workflow graph: nodes, edges and the graph algorithms the validator and executor share.

Throughout this module an edge only counts when both of its ends exist; dangling edges are a
validation problem, not something the algorithms should trip over. All algorithms are
iterative so that graphs of many thousands of nodes never hit Python's recursion limit, and all
orderings are deterministic (ties are broken by node or edge id).
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Iterable
from typing import Any

import msgspec


class Position(msgspec.Struct, frozen=True):
    """Where a node sits on the canvas."""

    x: float
    y: float


class Node(msgspec.Struct, kw_only=True):
    """A node of a workflow; `data` holds its label, parameters and typed input values."""

    id: str
    type: str
    position: Position
    data: dict[str, Any] = msgspec.field(default_factory=dict)


class Edge(msgspec.Struct, kw_only=True):
    """A connection from an output handle of `source` to an input handle of `target`."""

    id: str
    source: str
    source_handle: str
    target: str
    target_handle: str


class CycleError(Exception):
    """Raised when a graph that must be acyclic contains a cycle."""

    def __init__(self, cycle: list[str]) -> None:
        self.cycle = cycle
        super().__init__(f"Connections form a cycle: {format_cycle(cycle)}.")


def format_cycle(cycle: list[str]) -> str:
    """Render a cycle as "a → b → c → a"."""
    return " → ".join([*cycle, cycle[0]]) if cycle else ""


class Adjacency:
    """A snapshot of a graph's connections, built once so repeated lookups are O(1).

    `incoming`/`outgoing` hold edges sorted by edge id; `predecessors`/`successors` hold
    distinct node ids sorted by id. Every node of the graph has an entry, possibly empty.
    """

    __slots__ = ("incoming", "outgoing", "predecessors", "successors")

    def __init__(self, graph: Graph) -> None:
        nodes = graph.nodes
        self.incoming: dict[str, list[Edge]] = {node_id: [] for node_id in nodes}
        self.outgoing: dict[str, list[Edge]] = {node_id: [] for node_id in nodes}
        successors: dict[str, set[str]] = {node_id: set() for node_id in nodes}
        predecessors: dict[str, set[str]] = {node_id: set() for node_id in nodes}
        for edge_id in sorted(graph.edges):
            edge = graph.edges[edge_id]
            if edge.source not in nodes or edge.target not in nodes:
                continue
            self.outgoing[edge.source].append(edge)
            self.incoming[edge.target].append(edge)
            successors[edge.source].add(edge.target)
            predecessors[edge.target].add(edge.source)
        self.successors: dict[str, list[str]] = {key: sorted(ids) for key, ids in successors.items()}
        self.predecessors: dict[str, list[str]] = {key: sorted(ids) for key, ids in predecessors.items()}


class Graph(msgspec.Struct, kw_only=True):
    """A workflow graph. Nodes and edges are keyed by their ids."""

    nodes: dict[str, Node] = msgspec.field(default_factory=dict)
    edges: dict[str, Edge] = msgspec.field(default_factory=dict)

    def adjacency(self) -> Adjacency:
        """Build an `Adjacency` snapshot; use it when asking about many nodes in a row."""
        return Adjacency(self)

    def incoming(self, node_id: str) -> list[Edge]:
        """Edges into `node_id` whose source exists, sorted by edge id."""
        if node_id not in self.nodes:
            return []
        edges = (self.edges[key] for key in sorted(self.edges))
        return [edge for edge in edges if edge.target == node_id and edge.source in self.nodes]

    def outgoing(self, node_id: str) -> list[Edge]:
        """Edges out of `node_id` whose target exists, sorted by edge id."""
        if node_id not in self.nodes:
            return []
        edges = (self.edges[key] for key in sorted(self.edges))
        return [edge for edge in edges if edge.source == node_id and edge.target in self.nodes]

    def find_cycles(self) -> list[list[str]]:
        """One cycle per strongly connected component that contains a cycle.

        Each cycle is a list of node ids in edge order, starting at the smallest id of its
        component and following a shortest way back to it; cycles are sorted by that first id.
        A self-loop is reported as a one-node cycle.
        """
        adjacency = self.adjacency()
        cycles: list[list[str]] = []
        for component in _strongly_connected_components(adjacency.successors):
            start = min(component)
            if len(component) == 1 and start not in adjacency.successors[start]:
                continue
            cycles.append(_cycle_through(start, set(component), adjacency.successors))
        cycles.sort(key=lambda cycle: cycle[0])
        return cycles

    def find_cycle(self) -> list[str] | None:
        """The node ids of one cycle in order, or None when the graph is acyclic."""
        cycles = self.find_cycles()
        return cycles[0] if cycles else None

    def topological_order(self) -> list[str]:
        """All node ids, each after all of its predecessors; ties go to the smaller id.

        Raises `CycleError` when the graph has a cycle.
        """
        adjacency = self.adjacency()
        indegree = {node_id: len(preds) for node_id, preds in adjacency.predecessors.items()}
        ready = [node_id for node_id, degree in indegree.items() if degree == 0]
        heapq.heapify(ready)
        order: list[str] = []
        while ready:
            node_id = heapq.heappop(ready)
            order.append(node_id)
            for successor in adjacency.successors[node_id]:
                indegree[successor] -= 1
                if indegree[successor] == 0:
                    heapq.heappush(ready, successor)
        if len(order) < len(self.nodes):
            cycle = self.find_cycle()
            raise CycleError(cycle if cycle is not None else [])
        return order

    def upstream(self, node_ids: Iterable[str]) -> set[str]:
        """Every ancestor of the given nodes.

        A given node is included only if it is itself an ancestor of one of the given nodes
        (for instance when it sits on a cycle). Unknown ids are ignored.
        """
        return _reachable(node_ids, self.adjacency().predecessors)

    def downstream(self, node_ids: Iterable[str]) -> set[str]:
        """Every descendant of the given nodes, with the same rules as `upstream`."""
        return _reachable(node_ids, self.adjacency().successors)

    def leaves(self) -> list[str]:
        """Ids of nodes with no outgoing edge, sorted; their outputs are a run's outputs."""
        adjacency = self.adjacency()
        return sorted(node_id for node_id, successors in adjacency.successors.items() if not successors)


def _reachable(start: Iterable[str], neighbours: dict[str, list[str]]) -> set[str]:
    queue = deque(node_id for node_id in start if node_id in neighbours)
    seen: set[str] = set()
    while queue:
        for neighbour in neighbours[queue.popleft()]:
            if neighbour not in seen:
                seen.add(neighbour)
                queue.append(neighbour)
    return seen


def _strongly_connected_components(successors: dict[str, list[str]]) -> list[list[str]]:
    """Tarjan's algorithm with an explicit stack instead of recursion."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    for root in sorted(successors):
        if root in index:
            continue
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        work: list[tuple[str, int]] = [(root, 0)]
        while work:
            node_id, position = work[-1]
            children = successors[node_id]
            if position < len(children):
                work[-1] = (node_id, position + 1)
                child = children[position]
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, 0))
                elif child in on_stack:
                    low[node_id] = min(low[node_id], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node_id])
            if low[node_id] == index[node_id]:
                component: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node_id:
                        break
                components.append(component)
    return components


def _cycle_through(start: str, members: set[str], successors: dict[str, list[str]]) -> list[str]:
    """A shortest cycle through `start` that stays inside one strongly connected component."""
    parent: dict[str, str | None] = {start: None}
    queue = deque([start])
    while queue:
        node_id = queue.popleft()
        for child in successors[node_id]:
            if child == start:
                path = [node_id]
                step = parent[node_id]
                while step is not None:
                    path.append(step)
                    step = parent[step]
                return path[::-1]
            if child in members and child not in parent:
                parent[child] = node_id
                queue.append(child)
    raise AssertionError(f"node {start!r} is not on a cycle")
