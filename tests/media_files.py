"""Media files made by the tests themselves: images of known colour blocks, videos whose frames
have a distinct colour each second, and broken or hostile files."""

from __future__ import annotations

import io
import struct
import zlib
from fractions import Fraction
from pathlib import Path

import av
from PIL import Image

RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)
# One colour per second of the test video (distinct in every channel combination).
SECOND_COLOURS = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (255, 0, 255), (0, 255, 255), (255, 255, 255)]


def blocks(width: int = 200, height: int = 100) -> Image.Image:
    """Red top-left, green top-right, blue bottom-left, white bottom-right quadrants."""
    image = Image.new("RGB", (width, height), WHITE)
    image.paste(RED, (0, 0, width // 2, height // 2))
    image.paste(GREEN, (width // 2, 0, width, height // 2))
    image.paste(BLUE, (0, height // 2, width // 2, height))
    return image


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def colour_video(path: Path, *, seconds: int = 7, fps: int = 10, container: str = "mp4", codec: str = "libx264",
                 size: tuple[int, int] = (160, 120)) -> Path:  # fmt: skip
    """A video whose frames are SECOND_COLOURS[s] during second s; one keyframe only, so an
    inexact seek (to the keyframe before the moment) shows the wrong colour."""
    width, height = size
    with av.open(str(path), "w", format=container) as output:
        stream = output.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.time_base = Fraction(1, fps)
        stream.options = {"g": str(seconds * fps + 1)} if codec == "libx264" else {}
        for index in range(seconds * fps):
            frame = av.VideoFrame.from_image(Image.new("RGB", (width, height), SECOND_COLOURS[index // fps]))
            frame.pts = index
            for packet in stream.encode(frame):
                output.mux(packet)
        for packet in stream.encode():
            output.mux(packet)
    return path


def audio_only(path: Path) -> Path:
    """An MP4 file with an AAC track and no picture."""
    with av.open(str(path), "w", format="mp4") as output:
        stream = output.add_stream("aac", rate=44100)
        for index in range(20):
            frame = av.AudioFrame(format="fltp", layout="mono", samples=1024)
            frame.planes[0].update(bytes(4 * 1024))
            frame.sample_rate = 44100
            frame.pts = index * 1024
            for packet in stream.encode(frame):
                output.mux(packet)
        for packet in stream.encode():
            output.mux(packet)
    return path


def png_bomb(width: int = 10_000, height: int = 10_000) -> bytes:
    """A valid PNG of a blank greyscale image with more pixels than Pillow's bomb limit
    (about 100 KB on disk, 100 MB once decoded)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    compressor = zlib.compressobj(9)
    row = b"\x00" * (width + 1)
    body = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


def colour_at(image_bytes: bytes, x: int, y: int) -> tuple[int, int, int]:
    with Image.open(io.BytesIO(image_bytes)) as image:
        pixel = image.convert("RGB").getpixel((x, y))
    assert isinstance(pixel, tuple)
    return pixel[0], pixel[1], pixel[2]


def close_to(actual: tuple[int, int, int], expected: tuple[int, int, int], tolerance: int = 40) -> bool:
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=True))
