"""The node registry and Galaxy's built-in node types (SPEC §4)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from types import MappingProxyType

from engine.nodes import NodeType, node_types
from engine.nodes.text import INPUT_NAME_PATTERN
from engine.spec import NodeSpec

__all__ = ["INPUT_NAME_PATTERN", "NodeRegistry", "builtin_registry", "registry_of"]


class NodeRegistry:
    """An immutable, ordered collection of node specs keyed by node type."""

    __slots__ = ("_by_type", "_specs")

    _by_type: MappingProxyType[str, NodeSpec]
    _specs: tuple[NodeSpec, ...]

    def __init__(self, specs: Iterable[NodeSpec]) -> None:
        ordered = tuple(specs)
        by_type: dict[str, NodeSpec] = {}
        for spec in ordered:
            if spec.type in by_type:
                raise ValueError(f"Node type {spec.type!r} is registered twice.")
            by_type[spec.type] = spec
        object.__setattr__(self, "_specs", ordered)
        object.__setattr__(self, "_by_type", MappingProxyType(by_type))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("NodeRegistry is immutable.")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("NodeRegistry is immutable.")

    def get(self, node_type: str) -> NodeSpec | None:
        """The spec for `node_type`, or None when the type is unknown."""
        return self._by_type.get(node_type)

    def specs(self) -> tuple[NodeSpec, ...]:
        """All specs in registration order."""
        return self._specs

    def types(self) -> tuple[str, ...]:
        """All node type ids in registration order."""
        return tuple(spec.type for spec in self._specs)

    def __contains__(self, node_type: object) -> bool:
        return isinstance(node_type, str) and node_type in self._by_type

    def __iter__(self) -> Iterator[NodeSpec]:
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)

    def __repr__(self) -> str:
        return f"NodeRegistry({list(self.types())!r})"


def registry_of(types: Mapping[str, NodeType]) -> NodeRegistry:
    """The registry of the specs of `types`, in their order."""
    return NodeRegistry(node_type.spec for node_type in types.values())


def builtin_registry() -> NodeRegistry:
    """The registry of Galaxy's six built-in node types, in palette order."""
    return registry_of(node_types())
