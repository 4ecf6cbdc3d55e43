"""Crop Image: a rectangle given in percentages of the image (body: media issue)."""

from __future__ import annotations

from engine.nodes.base import NodeType, not_available
from engine.spec import NodeSpec, PortSpec, PortType


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


SPEC = NodeSpec(
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

NODE = NodeType(SPEC, not_available(SPEC))
