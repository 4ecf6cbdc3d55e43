"""Draw the sample product photo and product video that the Marketing Kit template ships with.

    python scripts/make_samples.py      # writes server/workflows/samples/product.{jpg,mp4}

Both are drawn from code (no downloaded assets): a pair of midnight-blue headphones on a soft
background; the video turns the light around them for a few seconds. Output is deterministic.
"""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import av
from PIL import Image, ImageDraw, ImageFilter

OUT = Path(__file__).resolve().parent.parent / "server" / "workflows" / "samples"
NAVY, ACCENT = (24, 38, 84), (90, 160, 230)


def _background(width: int, height: int, hue_shift: float) -> Image.Image:
    image = Image.new("RGB", (width, height))
    pixels = image.load()
    assert pixels is not None
    for y in range(height):
        for x in range(0, width, 4):
            t = (x / width + y / height) / 2
            shade = 0.5 + 0.5 * math.sin(2 * math.pi * (t + hue_shift))
            colour = (int(225 + 25 * shade), int(228 + 20 * (1 - shade)), 240)
            for dx in range(4):
                if x + dx < width:
                    pixels[x + dx, y] = colour
    return image


def _headphones(image: Image.Image, cx: float, cy: float, scale: float, glow: float) -> None:
    draw = ImageDraw.Draw(image)
    r = 150 * scale
    band = 22 * scale
    shadow = Image.new("L", image.size, 0)
    ImageDraw.Draw(shadow).ellipse((cx - r, cy + r * 1.05, cx + r, cy + r * 1.25), fill=90)
    image.paste((150, 150, 170), mask=shadow.filter(ImageFilter.GaussianBlur(12 * scale)))
    draw.arc((cx - r, cy - r, cx + r, cy + r), start=180, end=360, fill=NAVY, width=int(band))
    for side in (-1, 1):
        ex = cx + side * r
        draw.rounded_rectangle(
            (ex - 45 * scale, cy - 10 * scale, ex + 45 * scale, cy + 120 * scale), radius=int(30 * scale), fill=NAVY
        )
        inner = tuple(int(c + (255 - c) * glow * 0.6) for c in ACCENT)
        draw.ellipse((ex - 25 * scale, cy + 20 * scale, ex + 25 * scale, cy + 90 * scale), fill=inner)


def photo() -> Image.Image:
    image = _background(960, 720, 0.1)
    _headphones(image, 480, 330, 1.4, 0.5)
    ImageDraw.Draw(image).text((40, 670), "AURORA", fill=NAVY)
    return image


def video(path: Path, seconds: int = 4, fps: int = 24) -> None:
    width, height = 480, 272
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": "30", "preset": "veryslow", "g": str(fps)}
        stream.time_base = Fraction(1, fps)
        for index in range(seconds * fps):
            t = index / (seconds * fps)
            frame_image = _background(width, height, t)
            _headphones(frame_image, width / 2 + 60 * math.sin(2 * math.pi * t), 120, 0.6, t)
            frame = av.VideoFrame.from_image(frame_image)
            frame.pts = index
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    photo().save(OUT / "product.jpg", "JPEG", quality=85, optimize=True)
    video(OUT / "product.mp4")
    for name in ("product.jpg", "product.mp4"):
        print(name, (OUT / name).stat().st_size, "bytes")


if __name__ == "__main__":
    main()
