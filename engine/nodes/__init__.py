"""Node types: one module per type, each exposing its spec and executor as a `NodeType`.

Extensions (and the tests) add node types through a module that exposes `NODES`, a sequence of
`NodeType`, named by import path (the server's `GALAXY_EXTRA_NODES` setting).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable

from engine.nodes import crop, frame, llm, media, text
from engine.nodes.base import NodeContext, NodeFailed, NodeType, Outputs

BUILTIN_NODE_TYPES: tuple[NodeType, ...] = (
    text.NODE,
    media.IMAGE_NODE,
    media.VIDEO_NODE,
    llm.NODE,
    crop.NODE,
    frame.NODE,
)


def node_types(extra: Iterable[NodeType] = ()) -> dict[str, NodeType]:
    """The built-in node types plus `extra`, keyed by type id, in palette order."""
    by_type: dict[str, NodeType] = {}
    for node_type in (*BUILTIN_NODE_TYPES, *extra):
        if node_type.spec.type in by_type:
            raise ValueError(f"Node type {node_type.spec.type!r} is registered twice.")
        by_type[node_type.spec.type] = node_type
    return by_type


def load_node_types(extra_module: str = "") -> dict[str, NodeType]:
    """The built-in node types plus those of the module at `extra_module` (its `NODES`)."""
    if not extra_module:
        return node_types()
    module = importlib.import_module(extra_module)
    extra = getattr(module, "NODES", None)
    if not isinstance(extra, list | tuple) or not all(isinstance(n, NodeType) for n in extra):
        raise ValueError(f"Module {extra_module} must define NODES, a list of engine.nodes.NodeType.")
    return node_types(extra)


__all__ = [
    "BUILTIN_NODE_TYPES",
    "NodeContext",
    "NodeFailed",
    "NodeType",
    "Outputs",
    "load_node_types",
    "node_types",
]
