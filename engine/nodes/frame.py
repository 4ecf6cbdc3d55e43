"""Extract Frame: the frame of a video displayed at a moment, as a PNG image.

The moment is seconds from the start (`12.5`, `"12.5"`) or a share of the duration (`"50%"`).
Seeking is exact: the decoder starts at the keyframe before the moment and decodes forward to
the last frame whose presentation time is not after it — the frame a player shows then.
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

from engine.nodes.base import NodeContext, NodeFailed, NodeType, Outputs
from engine.nodes.imaging import input_info, save_image
from engine.spec import NodeSpec, PortSpec, PortType
from engine.values import parse_number_text

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


class PastEnd(Exception):
    """The moment asked for is after the video's end (picklable: it may cross a process pool)."""

    def __init__(self, target: float, duration: float) -> None:
        super().__init__(target, duration)
        self.target = target
        self.duration = duration


def parse_timestamp(ctx: NodeContext) -> tuple[float, bool]:
    """(value, is_percent) from the timestamp input."""
    raw: Any = ctx.inputs.get("timestamp")
    if raw is None or raw == "":
        return 0.0, False
    parsed = parse_number_text(raw, allow_percent=True) if isinstance(raw, str) else (raw, False)
    value, percent = parsed if parsed is not None else (math.nan, False)
    if (
        isinstance(raw, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value < 0
        or (percent and value > 100)
    ):
        raise NodeFailed(
            f"Timestamp of node {ctx.node_id} is {raw!r}; give seconds from the start (such as 12.5) or a share of "
            'the video from 0% to 100% (such as "50%").'
        )
    return value, percent


def _stream_duration(container: Any, stream: Any) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return float(container.duration) / 1_000_000
    return None


def extract_png(path: Path, value: float, is_percent: bool) -> tuple[bytes, int, int, float]:
    """The PNG of the frame shown at the moment, its size and the moment in seconds."""
    import av

    try:
        return _extract(av, path, value, is_percent)
    except av.FFmpegError as err:  # re-raised as ours: PyAV's errors do not survive pickling
        raise NodeFailed("This video cannot be decoded.", detail=f"{type(err).__name__}: {err}") from None


def _extract(av: Any, path: Path, value: float, is_percent: bool) -> tuple[bytes, int, int, float]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        duration = _stream_duration(container, stream)
        if is_percent and duration is None:
            raise NodeFailed("This video does not state its duration, so a percentage cannot be used; give seconds.")
        target = duration * value / 100 if is_percent and duration is not None else value
        if duration is not None and target > duration + 1e-6:
            raise PastEnd(target, duration)
        start = stream.start_time or 0
        offset = float(start * stream.time_base)
        container.seek(start + int(target / stream.time_base), stream=stream, backward=True, any_frame=False)
        chosen = None
        for frame in container.decode(stream):
            if frame.time is None:
                continue
            if frame.time - offset > target + 1e-6:
                if chosen is None:
                    chosen = frame  # the moment is before the first frame: that frame is shown
                break
            chosen = frame
        if chosen is None:
            raise NodeFailed("No frame of this video could be decoded.")
        rate = float(stream.average_rate) if stream.average_rate else 0.0
        if duration is None and rate and target > chosen.time - offset + 1 / rate:
            raise PastEnd(target, chosen.time - offset + 1 / rate)
        image = chosen.to_image()
    out = io.BytesIO()
    image.save(out, "PNG", compress_level=3)
    return out.getvalue(), image.width, image.height, target


async def execute(ctx: NodeContext) -> Outputs:
    value, is_percent = parse_timestamp(ctx)
    info = await input_info(ctx, "video_url")
    if info.kind != "video":
        raise NodeFailed(f"Node {ctx.node_id} extracts frames from videos; it received a {info.kind}.")
    shown = f"{value:g}%" if is_percent else f"{value:g} s"
    try:
        async with ctx.media_store().local_path(info.id) as path:
            png, width, height, moment = await ctx.offload(extract_png, path, value, is_percent)
    except PastEnd as err:
        raise NodeFailed(
            f"Timestamp {shown} of node {ctx.node_id} is past the end of the video, which is "
            f"{err.duration:.2f} s long; choose a moment from 0 to {err.duration:.2f} s.",
        ) from None
    except NodeFailed as err:
        raise NodeFailed(f"Node {ctx.node_id}: {err.message}", detail=err.detail) from None
    output = await save_image(ctx, png, "image/png", width, height)
    output["timestamp"] = round(moment, 6)
    return {"output": output}


NODE = NodeType(SPEC, execute, timeout=300)
