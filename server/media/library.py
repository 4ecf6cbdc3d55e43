"""The media domain of the web process: accept an upload, find a file for a reader, make
thumbnails, and give a workflow made from the template its sample files."""

from __future__ import annotations

import hashlib
import io
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any
from uuid import UUID

import anyio
import asyncpg
from PIL import Image, ImageOps

from server.errors import Forbidden, GalaxyError
from server.media import service
from server.media.probe import IMAGE, Probed, Rejected, extension_for, probe_image, probe_video, sniff
from server.media.service import NewMedia
from server.media.storage import Storage, key_for
from server.media.upload import Limits, receive
from server.settings import Settings

THUMBNAIL_WIDTHS = (64, 128, 256, 512, 1024)
SAMPLES_DIR = Path(__file__).resolve().parent.parent / "workflows" / "samples"
SAMPLE_FILES = {"image": "product.jpg", "video": "product.mp4"}
_SLUGS = {400: "bad-request", 413: "payload-too-large", 415: "unsupported-media-type", 422: "invalid"}


class MediaRejected(GalaxyError):
    """An upload Galaxy does not accept, with the status its reason calls for."""

    def __init__(self, rejected: Rejected) -> None:
        super().__init__(rejected.message)
        self.status_code = rejected.status
        self.slug = _SLUGS.get(rejected.status, "bad-request")


# Checks who may upload (given the workflow id the form named, if any) before anything is kept.
UploadCheck = Callable[[UUID | None], Awaitable[None]]


class MediaLibrary:
    def __init__(self, *, pool: asyncpg.Pool, storage: Storage, settings: Settings) -> None:
        self.pool = pool
        self.storage = storage
        self.settings = settings
        self.limits = Limits(image_bytes=settings.max_image_bytes, video_bytes=settings.max_video_bytes)
        self._samples: dict[str, tuple[str, int, Probed]] = {}

    async def upload(
        self, stream: AsyncIterator[bytes], content_type: str, owner: UUID, check: UploadCheck
    ) -> dict[str, Any]:
        """Receive, verify and store an upload; nothing is kept unless every check passes."""
        async with self.storage.staging() as staged:
            try:
                received = await receive(stream, content_type, staged, self.limits)
                probed = await self.probe(staged, received.kind, received.content_type)
            except Rejected as err:
                raise MediaRejected(err) from None
            workflow_id = await self._workflow_field(received.fields.get("workflow_id", ""))
            await check(workflow_id)
            key = key_for(received.sha256)
            created = await self.storage.commit(staged, key)
            filename = _with_extension(received.filename, probed.content_type)
            try:
                return await service.insert(
                    self.pool,
                    NewMedia(
                        owner=owner,
                        workflow=workflow_id,
                        filename=filename,
                        size=received.size,
                        sha256=received.sha256,
                        storage_key=key,
                        probed=probed,
                    ),
                )
            except BaseException:
                if created:
                    await self.storage.delete(key)
                raise

    async def probe(self, path: Path, kind: str, content_type: str) -> Probed:
        if kind == IMAGE:
            return await anyio.to_thread.run_sync(probe_image, path, self.settings.max_image_pixels)
        return await anyio.to_thread.run_sync(probe_video, path, content_type)

    async def _workflow_field(self, raw: str) -> UUID | None:
        if not raw:
            return None
        workflow_id = service.parse_id(raw)
        if workflow_id is None:
            raise MediaRejected(Rejected(f"workflow_id {raw[:60]!r} is not a workflow id.", 400))
        return workflow_id

    async def readable(self, media_id: UUID, user_id: UUID) -> dict[str, Any] | None:
        return await service.readable(self.pool, media_id, user_id)

    async def thumbnail(self, row: dict[str, Any], width: int) -> tuple[str, str, int]:
        """The storage key, content type and size of the image's thumbnail `width` pixels wide
        (made once, then kept next to the image)."""
        content_type = "image/jpeg" if row["content_type"] == "image/jpeg" else "image/png"
        if row["content_type"] == "image/webp":
            content_type = "image/webp"
        key = key_for(row["sha256"], f"w{width}")
        size = await self.storage.size(key)
        if size is None:
            original = await self.storage.read(row["storage_key"])
            data = await anyio.to_thread.run_sync(_thumbnail, original, width, content_type)
            await self.storage.put(data, key)
            size = len(data)
        return key, content_type, size

    async def sample_media(self, owner: UUID) -> dict[str, str]:
        """Media rows (owned by `owner`, not yet in a workflow) for the shipped sample image and
        video; their bytes are stored once for every workflow made from the template."""
        ids = {}
        for kind, name in SAMPLE_FILES.items():
            path = SAMPLES_DIR / name
            if kind not in self._samples:
                data = await anyio.to_thread.run_sync(path.read_bytes)
                sha = hashlib.sha256(data).hexdigest()
                sniffed_kind, sniffed_type = sniff(data[:64])
                self._samples[kind] = (sha, len(data), await self.probe(path, sniffed_kind, sniffed_type))
                await self.storage.put(data, key_for(sha))
            sha, size, probed = self._samples[kind]
            row = await service.insert(
                self.pool,
                NewMedia(
                    owner=owner,
                    workflow=None,
                    filename=name,
                    size=size,
                    sha256=sha,
                    storage_key=key_for(sha),
                    probed=probed,
                ),
            )
            ids[kind] = str(row["id"])
        return ids

    async def claim(self, media_ids: list[str], workflow_id: UUID) -> None:
        """Make files recorded without a workflow (the samples) part of `workflow_id`."""
        ids = [i for i in (service.parse_id(m) for m in media_ids) if i is not None]
        await self.pool.execute(
            "UPDATE media SET workflow = $2 WHERE id = ANY($1::uuid[]) AND workflow IS NULL", ids, workflow_id
        )
        await service.link(self.pool, ids, workflow_id)


async def require_member_somewhere(pool: asyncpg.Pool, user_id: UUID) -> None:
    member = await pool.fetchval(
        'SELECT 1 FROM memberships m JOIN workflows w ON w.id = m.workflow WHERE m."user" = $1 '
        "AND w.deleted_at IS NULL LIMIT 1",
        user_id,
    )
    if member is None:
        raise Forbidden("Create a workflow first, or name the workflow this file is for in the workflow_id field.")


def _with_extension(filename: str, content_type: str) -> str:
    """The uploaded name with the extension of what the file really is."""
    extension = extension_for(content_type)
    stem = filename.rsplit(".", 1)[0] if "." in filename else filename
    return f"{stem[:190]}.{extension}"


def _thumbnail(data: bytes, width: int, content_type: str) -> bytes:
    with Image.open(io.BytesIO(data)) as opened:
        image = ImageOps.exif_transpose(opened) or opened
        image.thumbnail((width, width * 64))
        out = io.BytesIO()
        if content_type == "image/jpeg":
            image.convert("RGB").save(out, "JPEG", quality=85)
        elif content_type == "image/webp":
            image.save(out, "WEBP", quality=85)
        else:
            if image.mode not in ("RGB", "RGBA", "L", "LA", "P"):
                image = image.convert("RGBA")
            image.save(out, "PNG", optimize=False)
        return out.getvalue()
