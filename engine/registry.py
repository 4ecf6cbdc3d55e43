"""The node registry and Galaxy's built-in node types (SPEC §4)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from types import MappingProxyType

from engine.spec import (
    MAX_TEXT_LENGTH,
    NodeSpec,
    ParamKind,
    ParamSpec,
    PortSpec,
    PortType,
)

INPUT_NAME_PATTERN = r"[A-Za-z_][A-Za-z0-9_]{0,63}"


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


def _percent_input(name: str, label: str, default: int) -> PortSpec:
    return PortSpec(
        name=name,
        type=PortType.NUMBER,
        label=label,
        editable=True,
        default=default,
        minimum=0,
        maximum=100,
        description=f"{label} as a percentage of the image size (0 to 100).",
    )


def _text() -> NodeSpec:
    return NodeSpec(
        type="text",
        label="Text",
        description="A piece of text typed on the node, or filled in by an API or webhook run.",
        category="inputs",
        version=1,
        outputs=(PortSpec(name="text", type=PortType.TEXT, label="Text"),),
        params=(
            ParamSpec(
                name="text",
                kind=ParamKind.TEXT,
                label="Text",
                default="",
                max_length=MAX_TEXT_LENGTH,
            ),
            ParamSpec(
                name="input_name",
                kind=ParamKind.STRING,
                label="Input name",
                default="",
                pattern=INPUT_NAME_PATTERN,
                description="Makes this node a workflow input that API and webhook runs may fill.",
            ),
        ),
    )


def _upload(node_type: str, label: str, port: PortType, formats: str) -> NodeSpec:
    return NodeSpec(
        type=node_type,
        label=label,
        description=f"An uploaded {port.value} ({formats}).",
        category="inputs",
        version=1,
        outputs=(PortSpec(name=port.value, type=port, label=port.value.capitalize()),),
        params=(
            ParamSpec(
                name="media_id",
                kind=ParamKind.MEDIA,
                label=port.value.capitalize(),
                default="",
                description=f"The uploaded {port.value} ({formats}).",
            ),
        ),
    )


def _llm() -> NodeSpec:
    return NodeSpec(
        type="llm",
        label="Run LLM",
        description="Sends a prompt, and optionally images, to a language model and streams its answer.",
        category="ai",
        version=1,
        inputs=(
            PortSpec(
                name="system_prompt",
                type=PortType.TEXT,
                label="System prompt",
                editable=True,
                default="",
                multiline=True,
                max_length=MAX_TEXT_LENGTH,
            ),
            PortSpec(
                name="user_message",
                type=PortType.TEXT,
                label="User message",
                required=True,
                editable=True,
                default="",
                multiline=True,
                max_length=MAX_TEXT_LENGTH,
            ),
            PortSpec(name="images", type=PortType.IMAGE, label="Images", multiple=True),
        ),
        outputs=(PortSpec(name="output", type=PortType.TEXT, label="Output"),),
        params=(
            ParamSpec(
                name="model",
                kind=ParamKind.MODEL,
                label="Model",
                default="",
                description="The model to call; empty means the server's default model.",
            ),
            ParamSpec(
                name="temperature",
                kind=ParamKind.NUMBER,
                label="Temperature",
                default=0.7,
                minimum=0,
                maximum=2,
            ),
        ),
    )


def _crop_image() -> NodeSpec:
    return NodeSpec(
        type="crop_image",
        label="Crop Image",
        description="Crops an image to a rectangle given in percentages of its size.",
        category="image",
        version=1,
        inputs=(
            PortSpec(name="image_url", type=PortType.IMAGE, label="Image", required=True),
            _percent_input("x_percent", "X", 0),
            _percent_input("y_percent", "Y", 0),
            _percent_input("width_percent", "Width", 100),
            _percent_input("height_percent", "Height", 100),
        ),
        outputs=(PortSpec(name="output", type=PortType.IMAGE, label="Output"),),
    )


def _extract_frame() -> NodeSpec:
    return NodeSpec(
        type="extract_frame",
        label="Extract Frame",
        description="Extracts one frame of a video as an image.",
        category="video",
        version=1,
        inputs=(
            PortSpec(name="video_url", type=PortType.VIDEO, label="Video", required=True),
            PortSpec(
                name="timestamp",
                type=PortType.NUMBER,
                label="Timestamp",
                editable=True,
                allow_percent=True,
                default=0,
                minimum=0,
                description='Seconds from the start, or a share of the duration such as "50%".',
            ),
        ),
        outputs=(PortSpec(name="output", type=PortType.IMAGE, label="Output"),),
    )


def builtin_registry() -> NodeRegistry:
    """The registry of Galaxy's six built-in node types, in palette order."""
    return NodeRegistry(
        (
            _text(),
            _upload("upload_image", "Upload Image", PortType.IMAGE, "jpg, jpeg, png, webp or gif"),
            _upload("upload_video", "Upload Video", PortType.VIDEO, "mp4, mov, webm or m4v"),
            _llm(),
            _crop_image(),
            _extract_frame(),
        )
    )
