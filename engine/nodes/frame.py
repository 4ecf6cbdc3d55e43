"""Extract Frame: one frame of a video as an image (body: media issue)."""

from __future__ import annotations

from engine.nodes.base import NodeType, not_available
from engine.spec import NodeSpec, PortSpec, PortType

SPEC = NodeSpec(
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

NODE = NodeType(SPEC, not_available(SPEC))
