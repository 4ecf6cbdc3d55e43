"""Upload Image and Upload Video: a media file uploaded to the workflow (bodies: media issue)."""

from __future__ import annotations

from engine.nodes.base import NodeType, not_available
from engine.spec import NodeSpec, ParamKind, ParamSpec, PortSpec, PortType


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


IMAGE_SPEC = _upload("upload_image", "Upload Image", PortType.IMAGE, "jpg, jpeg, png, webp or gif")
VIDEO_SPEC = _upload("upload_video", "Upload Video", PortType.VIDEO, "mp4, mov, webm or m4v")

IMAGE_NODE = NodeType(IMAGE_SPEC, not_available(IMAGE_SPEC))
VIDEO_NODE = NodeType(VIDEO_SPEC, not_available(VIDEO_SPEC))
