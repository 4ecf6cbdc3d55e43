"""`GET /api/node-types`: the node specs the editor builds its palette and handles from."""

from __future__ import annotations

from litestar import Controller, get
from litestar.di import NamedDependency

from engine.registry import NodeRegistry
from engine.spec import NodeSpec


class NodeTypeController(Controller):
    path = "/api/node-types"
    tags = ["nodes"]

    @get("/", summary="Every node type: ports (types, arity), parameters (defaults, limits)")
    async def node_types(self, registry: NamedDependency[NodeRegistry]) -> list[NodeSpec]:
        return list(registry.specs())
