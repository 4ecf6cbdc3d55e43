"""What the image and video nodes share: reading a media input and storing the image a node
produced."""

from __future__ import annotations

from typing import Any

from engine.nodes.base import MediaInfo, MediaNotFound, NodeContext, NodeFailed, media_ref

EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp", "image/gif": "gif"}


def input_media_id(ctx: NodeContext, port: str) -> str:
    """The media id arriving at `port` (an image or video reference from the node before)."""
    value = ctx.inputs.get(port)
    media_id = value.get("media_id") if isinstance(value, dict) else None
    if not isinstance(media_id, str) or not media_id:
        raise NodeFailed(f"Node {ctx.node_id} received no file at its {port!r} input; connect an upload node to it.")
    return media_id


async def input_info(ctx: NodeContext, port: str) -> MediaInfo:
    """What is known about the file at `port`; fails the node when the workflow cannot use it."""
    media_id = input_media_id(ctx, port)
    try:
        return await ctx.media_store().info(media_id)
    except MediaNotFound:
        raise NodeFailed(
            f"The file arriving at {port!r} of node {ctx.node_id} is not available to this workflow; "
            "upload it again on the node that provides it.",
            detail=f"media {media_id} not usable in workflow {ctx.workflow_id}",
        ) from None


async def save_image(ctx: NodeContext, data: bytes, content_type: str, width: int, height: int) -> dict[str, Any]:
    """Store a produced image and return the reference the node outputs."""
    filename = f"{ctx.node_id}-{ctx.run_id[:8]}.{EXTENSIONS.get(content_type, 'png')}"
    media_id = await ctx.media_store().save(
        data, content_type=content_type, filename=filename, width=width, height=height
    )
    info = MediaInfo(id=media_id, kind="image", content_type=content_type, size=len(data), width=width, height=height)
    return media_ref(media_id, info)
