"""Built-in workflow templates: graphs only; running them is the engine's business."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from engine.graph import Edge, Graph, Node, Position

COPYWRITER_PROMPT = (
    "You are a senior marketing copywriter. Using the product photo and details, write a short, vivid "
    "product description (3-4 sentences) that names the product's key benefits."
)
SOCIAL_PROMPT = (
    "You are a social media manager. Write one engaging post (under 280 characters, 2-3 hashtags) "
    "announcing the product, based on the description and the images."
)
PRODUCT_DETAILS = (
    "Product: Aurora wireless headphones\nColour: midnight blue\nBattery: 40 hours\n"
    "Features: active noise cancelling, foldable, USB-C fast charge"
)


def _node(node_id: str, node_type: str, x: float, y: float, **data: object) -> Node:
    return Node(id=node_id, type=node_type, position=Position(x=x, y=y), data=dict(data))


def _edge(source: str, source_handle: str, target: str, target_handle: str) -> Edge:
    return Edge(
        id=f"e-{source}-{source_handle}-{target}-{target_handle}",
        source=source,
        source_handle=source_handle,
        target=target,
        target_handle=target_handle,
    )


def marketing_kit(media: Mapping[str, str]) -> Graph:
    """Product Marketing Kit Generator (SPEC §4): two branches that run in parallel and converge.

    `media` holds the ids of the sample `image` and `video` the upload nodes start with."""
    nodes = [
        _node("upload-image", "upload_image", 0, 0, label="Product photo", media_id=media.get("image", "")),
        _node(
            "crop",
            "crop_image",
            360,
            0,
            label="Crop (center 80%)",
            x_percent=10,
            y_percent=10,
            width_percent=80,
            height_percent=80,
        ),
        _node("details", "text", 360, 320, label="Product details", text=PRODUCT_DETAILS, input_name="details"),
        _node(
            "copywriter",
            "llm",
            720,
            80,
            label="Copywriter",
            system_prompt=COPYWRITER_PROMPT,
            user_message="",
            model="",
            temperature=0.7,
        ),
        _node("upload-video", "upload_video", 0, 600, label="Product video", media_id=media.get("video", "")),
        _node("frame", "extract_frame", 360, 600, label="Frame at 50%", timestamp="50%"),
        _node(
            "social",
            "llm",
            1080,
            300,
            label="Social media post",
            system_prompt=SOCIAL_PROMPT,
            user_message="",
            model="",
            temperature=0.9,
        ),
    ]
    edges = [
        _edge("upload-image", "image", "crop", "image_url"),
        _edge("crop", "output", "copywriter", "images"),
        _edge("details", "text", "copywriter", "user_message"),
        _edge("upload-video", "video", "frame", "video_url"),
        _edge("copywriter", "output", "social", "user_message"),
        _edge("crop", "output", "social", "images"),
        _edge("frame", "output", "social", "images"),
    ]
    return Graph(nodes={n.id: n for n in nodes}, edges={e.id: e for e in edges})


# name, graph builder (given the ids of the sample media), and whether it uses the samples
TEMPLATES: dict[str, tuple[str, Callable[[Mapping[str, str]], Graph], bool]] = {
    "marketing-kit": ("Product Marketing Kit Generator", marketing_kit, True),
}
