"""Upload Image and Upload Video: a media file uploaded to the workflow, passed on by reference."""

from __future__ import annotations

from engine.nodes.base import Executor, MediaNotFound, NodeContext, NodeFailed, NodeType, Outputs, media_ref
from engine.spec import NodeSpec, ParamKind, ParamSpec, PortSpec, PortType

IMAGE_FORMATS = "jpg, jpeg, png, webp or gif"
VIDEO_FORMATS = "mp4, mov, webm or m4v"


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


IMAGE_SPEC = _upload("upload_image", "Upload Image", PortType.IMAGE, IMAGE_FORMATS)
VIDEO_SPEC = _upload("upload_video", "Upload Video", PortType.VIDEO, VIDEO_FORMATS)


def _executor(kind: str, formats: str) -> Executor:
    async def execute(ctx: NodeContext) -> Outputs:
        media_id = str(ctx.params.get("media_id") or "").strip()
        ask = f"upload {'an' if kind == 'image' else 'a'} {kind} ({formats}) on node {ctx.node_id}"
        if not media_id:
            raise NodeFailed(f"Node {ctx.node_id} has no {kind} yet: {ask}.")
        try:
            info = await ctx.media_store().info(media_id)
        except MediaNotFound:
            raise NodeFailed(
                f"The {kind} on node {ctx.node_id} is not a file of this workflow (it may have been deleted, or "
                f"come from a workflow you cannot see): {ask} again.",
                detail=f"media {media_id} not usable in workflow {ctx.workflow_id}",
            ) from None
        if info.kind != kind:
            raise NodeFailed(
                f"Node {ctx.node_id} holds a {info.kind}, not {'an' if kind == 'image' else 'a'} {kind}: {ask}."
            )
        return {kind: media_ref(info.id, info)}

    return execute


IMAGE_NODE = NodeType(IMAGE_SPEC, _executor("image", IMAGE_FORMATS))
VIDEO_NODE = NodeType(VIDEO_SPEC, _executor("video", VIDEO_FORMATS))
