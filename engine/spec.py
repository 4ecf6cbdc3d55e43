"""Declarative node specifications.

One `NodeSpec` per node type is the single source of truth for the editor's palette, the
handle types, connection checks and graph validation.
"""

from __future__ import annotations

import enum
from typing import Any

import msgspec

MAX_LABEL_LENGTH = 200
MAX_TEXT_LENGTH = 100_000


class PortType(enum.StrEnum):
    """The kind of value that flows through a port."""

    TEXT = "text"
    NUMBER = "number"
    IMAGE = "image"
    VIDEO = "video"


def can_connect(source: PortType, target: PortType) -> bool:
    """Whether an output of type `source` may feed an input of type `target`.

    Text may feed a number input because numbers are parsed from text at run time; every other
    pairing must match exactly.
    """
    return source == target or (source == PortType.TEXT and target == PortType.NUMBER)


class PortSpec(msgspec.Struct, frozen=True, kw_only=True):
    """An input or output handle of a node type; `name` is also the editor's handle id."""

    name: str
    type: PortType
    label: str
    required: bool = False
    multiple: bool = False
    editable: bool = False
    default: str | float | int | None = None
    minimum: float | None = None
    maximum: float | None = None
    max_length: int | None = None
    multiline: bool = False
    allow_percent: bool = False
    description: str = ""


class ParamKind(enum.StrEnum):
    """The kind of a parameter that is only ever typed on the node, never connected."""

    TEXT = "text"
    STRING = "string"
    NUMBER = "number"
    INTEGER = "integer"
    SELECT = "select"
    BOOLEAN = "boolean"
    MEDIA = "media"
    MODEL = "model"


class ParamSpec(msgspec.Struct, frozen=True, kw_only=True):
    """A parameter of a node type; its value lives in the node's data under `name`."""

    name: str
    kind: ParamKind
    label: str
    default: str | float | int | bool | None = None
    minimum: float | None = None
    maximum: float | None = None
    max_length: int | None = None
    choices: tuple[str, ...] = ()
    pattern: str | None = None
    description: str = ""


class NodeSpec(msgspec.Struct, frozen=True, kw_only=True):
    """Everything the editor, the validator and the executor need to know about a node type."""

    type: str
    label: str
    description: str
    category: str
    version: int
    inputs: tuple[PortSpec, ...] = ()
    outputs: tuple[PortSpec, ...] = ()
    params: tuple[ParamSpec, ...] = ()

    def input(self, name: str) -> PortSpec | None:
        """The input port called `name`, or None."""
        return next((port for port in self.inputs if port.name == name), None)

    def output(self, name: str) -> PortSpec | None:
        """The output port called `name`, or None."""
        return next((port for port in self.outputs if port.name == name), None)

    def param(self, name: str) -> ParamSpec | None:
        """The parameter called `name`, or None."""
        return next((param for param in self.params if param.name == name), None)

    def data_keys(self) -> frozenset[str]:
        """Keys a node of this type may hold in its data: params, editable inputs and `label`."""
        keys = {param.name for param in self.params}
        keys.update(port.name for port in self.inputs if port.editable)
        keys.add("label")
        return frozenset(keys)

    def defaults(self) -> dict[str, Any]:
        """Data for a freshly created node of this type.

        Entries whose default is None are left out: a missing key already means "use the
        default", and None is not a valid typed value.
        """
        data: dict[str, Any] = {"label": self.label}
        for param in self.params:
            if param.default is not None:
                data[param.name] = param.default
        for port in self.inputs:
            if port.editable and port.default is not None:
                data[port.name] = port.default
        return data
