"""Galaxy's workflow engine core: node specs, the graph model and graph validation.

This package is a pure library: it knows nothing about HTTP, storage or collaboration, so the
server, the worker and the collaboration layer can all share one definition of what a valid
workflow is.
"""

from engine.graph import Adjacency, CycleError, Edge, Graph, Node, Position
from engine.registry import NodeRegistry, builtin_registry
from engine.spec import (
    MAX_LABEL_LENGTH,
    MAX_TEXT_LENGTH,
    NodeSpec,
    ParamKind,
    ParamSpec,
    PortSpec,
    PortType,
    can_connect,
)
from engine.validate import Problem, ProblemCode, structural_problems, validate_graph

__all__ = [
    "MAX_LABEL_LENGTH",
    "MAX_TEXT_LENGTH",
    "Adjacency",
    "CycleError",
    "Edge",
    "Graph",
    "Node",
    "NodeRegistry",
    "NodeSpec",
    "ParamKind",
    "ParamSpec",
    "PortSpec",
    "PortType",
    "Position",
    "Problem",
    "ProblemCode",
    "builtin_registry",
    "can_connect",
    "structural_problems",
    "validate_graph",
]
