"""Media node benchmarks: the real Crop Image and Extract Frame executors on large inputs.

1. Crop (center 80%) of a 4000x3000 JPEG: median time per operation, one at a time.
2. Frame at "50%" of a 60 s 1080p H.264 video (keyframe every 250 frames, x264's default):
   median time per operation, one at a time.
3. Event-loop lag while four of them run at once on one event loop (as in one worker): a
   ticker asks to wake every 5 ms and records how late it woke; p50/p99/max of that lateness.

The files are made by the benchmark (cached under /tmp/galaxy-media-bench). Media is read and
written through `FileMedia`, a `MediaStore` over a local folder: what is measured is decoding,
cropping and encoding, and whether they stay off the event loop.

    python -m bench.media_bench
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import multiprocessing
import os
import statistics
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
from PIL import Image, ImageDraw

from engine.nodes import crop, frame
from engine.nodes.base import MediaInfo, MediaNotFound, NodeContext, Offload, Outputs, in_thread
from server.worker import process_offload

CACHE = Path("/tmp/galaxy-media-bench")
REPEATS = 7


class FileMedia:
    """A `MediaStore` over a local folder (media id = file name)."""

    def __init__(self, root: Path, infos: dict[str, MediaInfo]) -> None:
        self.root = root
        self.infos = infos
        (root / "out").mkdir(parents=True, exist_ok=True)

    async def info(self, media_id: str) -> MediaInfo:
        if media_id not in self.infos:
            raise MediaNotFound(media_id)
        return self.infos[media_id]

    async def read(self, media_id: str) -> bytes:
        return await asyncio.to_thread((self.root / media_id).read_bytes)

    @contextlib.asynccontextmanager
    async def local_path(self, media_id: str) -> AsyncIterator[Path]:
        yield self.root / media_id

    async def save(
        self, data: bytes, *, content_type: str, filename: str, width: int | None = None, height: int | None = None
    ) -> str:
        name = "out/" + hashlib.sha256(data).hexdigest()
        await asyncio.to_thread((self.root / name).write_bytes, data)
        return name


def make_photo(path: Path) -> None:
    if path.exists():
        return
    image = Image.linear_gradient("L").resize((4000, 3000)).convert("RGB")
    draw = ImageDraw.Draw(image)
    for i in range(0, 4000, 37):
        draw.line((i, 0, 4000 - i, 3000), fill=(i % 255, 120, 255 - i % 255), width=3)
    noise = Image.effect_noise((4000, 3000), 40).convert("RGB")
    Image.blend(image, noise, 0.3).save(path, "JPEG", quality=90)


def make_video(path: Path, seconds: int = 60, fps: int = 30) -> None:
    if path.exists():
        return
    base = Image.linear_gradient("L").resize((1920, 1080)).convert("RGB")
    with av.open(str(path), "w", format="mp4") as output:
        stream = output.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 1920, 1080, "yuv420p"
        stream.time_base = Fraction(1, fps)
        stream.options = {"preset": "ultrafast", "crf": "28"}
        for index in range(seconds * fps):
            shifted = base.rotate((index % 360) / 4)
            video_frame = av.VideoFrame.from_image(shifted)
            video_frame.pts = index
            for packet in stream.encode(video_frame):
                output.mux(packet)
        for packet in stream.encode():
            output.mux(packet)


def context(spec: Any, media: FileMedia, inputs: dict[str, Any], node_id: str, offload: Offload) -> NodeContext:
    return NodeContext(run_id="bench-run", workflow_id="bench", node_id=node_id, spec=spec, params={}, inputs=inputs,
                       media=media, offload=offload)  # fmt: skip


async def timed(make: Callable[[], Awaitable[Outputs]]) -> float:
    began = time.perf_counter()
    await make()
    return time.perf_counter() - began


async def lag_while(jobs: list[Callable[[], Awaitable[Outputs]]]) -> dict[str, float]:
    """Run `jobs` at once and measure how late a 5 ms ticker wakes meanwhile."""
    late: list[float] = []
    stop = asyncio.Event()

    async def ticker() -> None:
        while not stop.is_set():
            asked = time.perf_counter()
            await asyncio.sleep(0.005)
            late.append(time.perf_counter() - asked - 0.005)

    tick = asyncio.create_task(ticker())
    began = time.perf_counter()
    await asyncio.gather(*(job() for job in jobs))
    wall = time.perf_counter() - began
    stop.set()
    await tick
    ordered = sorted(late)
    return {
        "wall_s": round(wall, 3),
        "ticks": len(ordered),
        "lag_p50_ms": round(ordered[len(ordered) // 2] * 1000, 2),
        "lag_p99_ms": round(ordered[int(len(ordered) * 0.99)] * 1000, 2),
        "lag_max_ms": round(ordered[-1] * 1000, 2),
    }


def prepare() -> tuple[MediaInfo, MediaInfo]:
    CACHE.mkdir(parents=True, exist_ok=True)
    make_photo(CACHE / "photo.jpg")
    make_video(CACHE / "video.mp4")
    photo_size, video_size = (CACHE / "photo.jpg").stat().st_size, (CACHE / "video.mp4").stat().st_size
    return (
        MediaInfo(id="photo.jpg", kind="image", content_type="image/jpeg", size=photo_size, width=4000, height=3000),
        MediaInfo(id="video.mp4", kind="video", content_type="video/mp4", size=video_size, width=1920, height=1080,
                  duration=60.0),
    )  # fmt: skip


async def measure(photo_info: MediaInfo, video_info: MediaInfo, offload: Offload, label: str) -> dict[str, Any]:
    media = FileMedia(CACHE, {"photo.jpg": photo_info, "video.mp4": video_info})
    crop_inputs = {"image_url": {"media_id": "photo.jpg"}, "x_percent": 10, "y_percent": 10,
                   "width_percent": 80, "height_percent": 80}  # fmt: skip
    frame_inputs = {"video_url": {"media_id": "video.mp4"}, "timestamp": "50%"}

    def crop_job(i: int = 0) -> Callable[[], Awaitable[Outputs]]:
        return lambda: crop.execute(context(crop.SPEC, media, crop_inputs, f"crop{i}", offload))

    def frame_job(i: int = 0) -> Callable[[], Awaitable[Outputs]]:
        return lambda: frame.execute(context(frame.SPEC, media, frame_inputs, f"frame{i}", offload))

    await crop_job()()  # warm up (imports, caches)
    await frame_job()()
    crop_times = [await timed(crop_job()) for _ in range(REPEATS)]
    frame_times = [await timed(frame_job()) for _ in range(REPEATS)]
    return {
        "offload": label,
        "crop_4000x3000_median_s": round(statistics.median(crop_times), 3),
        "frame_50pct_60s_1080p_median_s": round(statistics.median(frame_times), 3),
        "four_crops_at_once": await lag_while([crop_job(i) for i in range(4)]),
        "four_frames_at_once": await lag_while([frame_job(i) for i in range(4)]),
        "two_crops_two_frames_at_once": await lag_while([crop_job(0), crop_job(1), frame_job(0), frame_job(1)]),
    }


async def main() -> None:
    photo, video = prepare()
    results: dict[str, Any] = {"python": sys.version.split()[0], "photo_bytes": photo.size, "video_bytes": video.size}
    results["thread"] = await measure(photo, video, in_thread, "a thread per operation")
    for size in sorted({1, os.cpu_count() or 1}):
        with ProcessPoolExecutor(max_workers=size, mp_context=multiprocessing.get_context("spawn")) as pool:
            results[f"processes_{size}"] = await measure(photo, video, process_offload(pool), f"{size} processes")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
