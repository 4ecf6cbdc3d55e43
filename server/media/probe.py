"""What a file is, decided by its bytes: a signature check on the first bytes (so the size limit
of the right kind applies while the upload streams), then a full check once it is complete —
images decoded with Pillow (decompression-bomb limit on), videos probed with PyAV.

The functions here block; callers run them in a thread.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError

IMAGE, VIDEO = "image", "video"
SNIFF_BYTES = 64
IMAGE_TYPES = {"JPEG": "image/jpeg", "MPO": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "GIF": "image/gif"}
IMAGE_EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp", "image/gif": "gif"}
ACCEPTED = "images (jpg, jpeg, png, webp, gif) and videos (mp4, mov, webm, m4v)"
# ISO base media brands: QuickTime, Apple's M4V, everything else plays as MP4.
_BRANDS = {b"qt  ": "video/quicktime", b"M4V ": "video/x-m4v", b"M4VH": "video/x-m4v", b"M4VP": "video/x-m4v"}
_AUDIO_BRANDS = (b"M4A ", b"M4B ", b"M4P ")
VIDEO_EXTENSIONS = {"video/mp4": "mp4", "video/quicktime": "mov", "video/x-m4v": "m4v", "video/webm": "webm"}


class Rejected(Exception):
    """The file is not one Galaxy accepts; `status` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass
class Probed:
    kind: str
    content_type: str
    width: int | None = None
    height: int | None = None
    duration: float | None = None
    details: dict[str, Any] = field(default_factory=dict)


def sniff(head: bytes) -> tuple[str, str]:
    """The kind and provisional content type from a file's first bytes; Rejected otherwise."""
    if head.startswith(b"\xff\xd8\xff"):
        return IMAGE, "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return IMAGE, "image/png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return IMAGE, "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return IMAGE, "image/webp"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in _AUDIO_BRANDS:
            raise Rejected("This is an audio file (M4A); upload a video with a picture track.", 415)
        return VIDEO, _BRANDS.get(brand, "video/mp4")
    if head[4:8] in (b"moov", b"mdat", b"wide", b"free", b"skip"):
        return VIDEO, "video/quicktime"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        if b"webm" not in head:
            raise Rejected("Matroska (.mkv) files are not accepted; convert the video to mp4 or webm.", 415)
        return VIDEO, "video/webm"
    raise Rejected(f"This file is not an image or video Galaxy accepts; upload {ACCEPTED}.", 415)


def probe_image(path: Path, max_pixels: int) -> Probed:
    """Decode the whole image (a truncated or corrupt file fails here, not in a node later)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                if image.format not in IMAGE_TYPES:
                    raise Rejected(f"{image.format} images are not accepted; upload {ACCEPTED}.", 415)
                width, height = image.size
                if width * height > max_pixels:
                    raise Rejected(_too_many_pixels(width, height, max_pixels), 413)
                image.load()
                return Probed(
                    kind=IMAGE,
                    content_type=IMAGE_TYPES[image.format],
                    width=width,
                    height=height,
                    details={"format": image.format.lower(), "mode": image.mode, "frames": _frames(image)},
                )
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise Rejected(
            "This image declares more pixels than Galaxy decodes (a decompression bomb?); "
            f"upload one of at most {max_pixels:,} pixels.",
            413,
        ) from err
    except Rejected:
        raise
    except UnidentifiedImageError as err:
        raise Rejected(f"This file starts like an image but cannot be read as one; upload {ACCEPTED}.") from err
    except (OSError, SyntaxError, ValueError) as err:
        raise Rejected(f"This image is damaged or truncated and cannot be decoded ({err}); upload it again.") from err


def _too_many_pixels(width: int, height: int, max_pixels: int) -> str:
    return f"This image is {width} by {height} ({width * height:,} pixels); the limit is {max_pixels:,} pixels."


def _frames(image: Image.Image) -> int:
    return int(getattr(image, "n_frames", 1))


def probe_video(path: Path, content_type: str) -> Probed:
    """Open the container, find its video stream and decode its first frame."""
    import av

    try:
        with av.open(str(path)) as container:
            streams = container.streams.video
            if not streams:
                raise Rejected("This file has no video stream (audio only?); upload a video with a picture.")
            stream = streams[0]
            duration = _duration(container, stream)
            first = next(container.decode(stream), None)
            if first is None:
                raise Rejected("This video has no frame that can be decoded; upload it again.")
            return Probed(
                kind=VIDEO,
                content_type=content_type,
                width=stream.codec_context.width or first.width,
                height=stream.codec_context.height or first.height,
                duration=duration,
                details={
                    "container": container.format.name,
                    "codec": stream.codec_context.name,
                    "frame_rate": float(stream.average_rate) if stream.average_rate else None,
                },
            )
    except Rejected:
        raise
    except av.FFmpegError as err:
        raise Rejected(f"This video is damaged or truncated and cannot be read ({err}); upload it again.") from err


def _duration(container: Any, stream: Any) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return float(container.duration) / 1_000_000
    return None


def extension_for(content_type: str) -> str:
    return IMAGE_EXTENSIONS.get(content_type) or VIDEO_EXTENSIONS.get(content_type, "bin")
