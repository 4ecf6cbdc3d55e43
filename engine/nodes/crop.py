"""Crop Image: a rectangle given in percentages of the image.

Pixel edges: left = x% of the width and right = (x + width)% of the width, each rounded to the
nearest pixel (halves up); top and bottom likewise. The result is at least one pixel each way.
EXIF orientation is applied first, so percentages refer to the image as it is displayed. The
format is kept (JPEG stays JPEG, PNG stays PNG, WebP stays WebP); a GIF gives its first frame as
PNG. Metadata other than the colour profile is not copied.
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

from engine.nodes.base import NodeContext, NodeFailed, NodeType, Outputs
from engine.nodes.imaging import input_info, save_image
from engine.spec import NodeSpec, PortSpec, PortType

EPSILON = 1e-9


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


def _fmt(value: float) -> str:
    return f"{value:g}%"


def crop_rectangle(ctx: NodeContext) -> tuple[float, float, float, float]:
    """x, y, width and height in percent, checked; NodeFailed names the value and the limit."""
    values: dict[str, float] = {}
    for name, label in (
        ("x_percent", "X"),
        ("y_percent", "Y"),
        ("width_percent", "Width"),
        ("height_percent", "Height"),
    ):
        raw = ctx.inputs.get(name)
        if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
            raise NodeFailed(f"{label} of node {ctx.node_id} must be a number from 0 to 100, not {raw!r}.")
        if not 0 <= raw <= 100:
            raise NodeFailed(f"{label} of node {ctx.node_id} is {_fmt(raw)}; it must be between 0% and 100%.")
        values[name] = float(raw)
    x, y, width, height = (values[k] for k in ("x_percent", "y_percent", "width_percent", "height_percent"))
    for label, size in (("Width", width), ("Height", height)):
        if size <= 0:
            raise NodeFailed(f"{label} of node {ctx.node_id} is 0%; a crop must be more than 0% {label.lower()}.")
    if x + width > 100 + EPSILON:
        raise NodeFailed(
            f"X ({_fmt(x)}) plus width ({_fmt(width)}) of node {ctx.node_id} is {_fmt(x + width)}, past the "
            "right edge at 100%; lower X or the width."
        )
    if y + height > 100 + EPSILON:
        raise NodeFailed(
            f"Y ({_fmt(y)}) plus height ({_fmt(height)}) of node {ctx.node_id} is {_fmt(y + height)}, past the "
            "bottom edge at 100%; lower Y or the height."
        )
    return x, y, width, height


def pixel_edges(start: float, length: float, size: int) -> tuple[int, int]:
    """The first and past-the-end pixel of a span given in percent of `size` pixels."""
    first = min(size - 1, math.floor(size * start / 100 + 0.5))
    last = min(size, math.floor(size * (start + length) / 100 + 0.5))
    return first, max(last, first + 1)


def crop_file(path: Path, rectangle: tuple[float, float, float, float]) -> tuple[bytes, str, int, int]:
    """Decode, orient, crop and encode; returns the bytes, content type and size. Takes a path,
    not bytes, so a process pool is not handed the whole image through a pipe."""
    from PIL import Image, ImageOps

    x, y, width, height = rectangle
    with Image.open(path) as opened:
        source_format = opened.format or "PNG"
        icc = opened.info.get("icc_profile")
        image = ImageOps.exif_transpose(opened) or opened  # GIF: its first frame
        left, right = pixel_edges(x, width, image.width)
        top, bottom = pixel_edges(y, height, image.height)
        cropped = image.crop((left, top, right, bottom))
    out = io.BytesIO()
    options: dict[str, Any] = {"icc_profile": icc} if icc else {}
    if source_format in ("JPEG", "MPO"):
        if cropped.mode not in ("RGB", "L", "CMYK"):
            cropped = cropped.convert("RGB")
        cropped.save(out, "JPEG", quality=92, **options)
        content_type = "image/jpeg"
    elif source_format == "WEBP":
        cropped.save(out, "WEBP", quality=92, **options)
        content_type = "image/webp"
    else:
        if cropped.mode not in ("1", "L", "LA", "P", "RGB", "RGBA", "I", "I;16"):
            cropped = cropped.convert("RGBA")
        cropped.save(out, "PNG", compress_level=3, **options)
        content_type = "image/png"
    return out.getvalue(), content_type, cropped.width, cropped.height


async def execute(ctx: NodeContext) -> Outputs:
    rectangle = crop_rectangle(ctx)
    info = await input_info(ctx, "image_url")
    if info.kind != "image":
        raise NodeFailed(f"Node {ctx.node_id} crops images; it received a {info.kind}.")
    try:
        async with ctx.media_store().local_path(info.id) as path:
            result, content_type, width, height = await ctx.offload(crop_file, path, rectangle)
    except OSError as err:
        raise NodeFailed(f"The image arriving at node {ctx.node_id} cannot be decoded.", detail=str(err)) from err
    return {"output": await save_image(ctx, result, content_type, width, height)}


NODE = NodeType(SPEC, execute, timeout=120)
