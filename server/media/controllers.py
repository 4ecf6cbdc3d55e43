"""`POST /api/media` (multipart upload) and `GET /api/media/{id}` (members only, ranges,
thumbnails)."""

from __future__ import annotations

import re
from typing import Annotated, Any
from urllib.parse import quote
from uuid import UUID

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, Parameter
from litestar.response import Stream

from server.accounts.auth import CurrentUser
from server.errors import BadRequest, GalaxyError, NotFound
from server.http_rules import BODY_TYPES_OPT
from server.media.library import THUMBNAIL_WIDTHS, MediaLibrary, require_member_somewhere
from server.tables import Role
from server.workflows import service as workflows

NOT_FOUND = "No such media file, or you are not a member of a workflow that uses it."
CACHE_CONTROL = "private, max-age=31536000, immutable"  # content-addressed: the bytes never change
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


class MediaOut(msgspec.Struct, kw_only=True):
    id: UUID
    kind: str
    content_type: str
    size: int
    width: int | None
    height: int | None
    duration: float | None
    filename: str


class RangeNotSatisfiable(GalaxyError):
    status_code = 416
    slug = "range-not-satisfiable"

    def __init__(self, size: int) -> None:
        super().__init__(f"The requested range is outside the file, which is {size} bytes long.")
        self.size = size

    def headers(self) -> dict[str, str]:
        return {"Content-Range": f"bytes */{self.size}"}


def media_out(row: dict[str, Any]) -> MediaOut:
    return MediaOut(
        id=row["id"],
        kind=row["kind"],
        content_type=row["content_type"],
        size=row["size"],
        width=row["width"],
        height=row["height"],
        duration=row["duration"],
        filename=row["filename"],
    )


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The single range a `Range` header asks for, clipped to the file; None for the whole
    file (no header, several ranges or another unit: answering 200 is allowed then)."""
    if not header:
        return None
    match = _RANGE.fullmatch(header.strip())
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # a suffix: the last N bytes
        length = int(last)
        if length == 0 or size == 0:
            raise RangeNotSatisfiable(size)
        return max(0, size - length), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or end < start:
        raise RangeNotSatisfiable(size)
    return start, end


def _disposition(filename: str) -> str:
    fallback = re.sub(r"[^A-Za-z0-9._ -]", "_", filename) or "file"
    return f"inline; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename)}"


class MediaController(Controller):
    path = "/api/media"
    tags = ["media"]

    @post(
        "/",
        status_code=201,
        summary="Upload an image or video (multipart field 'file'; optional 'workflow_id')",
        opt={BODY_TYPES_OPT: ("multipart/form-data",)},
        request_max_body_size=None,  # enforced while streaming, per kind of file
    )
    async def upload(
        self,
        request: Request[CurrentUser, Any, Any],
        media: NamedDependency[MediaLibrary],
        workflow_id: Annotated[UUID | None, Parameter(description="the workflow this file is for")] = None,
    ) -> MediaOut:
        user = request.user
        if workflow_id is not None:  # checked before a byte of the file is read
            await workflows.require_role(workflow_id, user.id, Role.EDITOR)

        async def check(form_workflow: UUID | None) -> None:
            if form_workflow is not None and workflow_id is not None and form_workflow != workflow_id:
                raise BadRequest("The workflow_id field and the workflow_id query parameter differ.")
            named = form_workflow or workflow_id
            if named is None:
                await require_member_somewhere(media.pool, user.id)
            else:
                await workflows.require_role(named, user.id, Role.EDITOR)

        row = await media.upload(request.stream(), request.headers.get("content-type", ""), user.id, check)
        return media_out(row)

    @get("/{media_id:uuid}", summary="A media file (or an image's thumbnail with ?w=256); ranges supported")
    async def download(
        self,
        request: Request[CurrentUser, Any, Any],
        media_id: FromPath[UUID],
        media: NamedDependency[MediaLibrary],
        w: Annotated[int | None, Parameter(description="thumbnail width in pixels")] = None,
    ) -> Response[Any]:
        row = await media.readable(media_id, request.user.id)
        if row is None:
            raise NotFound(NOT_FOUND)
        key, content_type, size, etag = row["storage_key"], row["content_type"], row["size"], f'"{row["sha256"]}"'
        if w is not None:
            if row["kind"] != "image":
                raise BadRequest("Thumbnails (?w=) are made for images only; fetch the video without it.")
            if w not in THUMBNAIL_WIDTHS:
                raise BadRequest(f"Thumbnail width must be one of {', '.join(map(str, THUMBNAIL_WIDTHS))}.")
            key, content_type, size = await media.thumbnail(row, w)
            etag = f'"{row["sha256"]}-w{w}"'
        headers = {
            "ETag": etag,
            "Cache-Control": CACHE_CONTROL,
            "X-Content-Type-Options": "nosniff",
            "Accept-Ranges": "bytes",
            "Content-Disposition": _disposition(row["filename"]),
            "Content-Security-Policy": "default-src 'none'; sandbox",
        }
        if etag in (request.headers.get("if-none-match") or ""):
            return Response(content=b"", status_code=304, headers=headers)
        wanted = request.headers.get("range")
        if_range = request.headers.get("if-range")
        if if_range is not None and if_range.strip() != etag:
            wanted = None  # the client's copy is another version: send it all
        requested = byte_range(wanted, size)
        start, end = requested or (0, size - 1)
        headers["Content-Length"] = str(max(0, end - start + 1))
        if requested is not None:
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        body = media.storage.read_range(key, start, end)
        return Stream(body, status_code=206 if requested else 200, media_type=content_type, headers=headers)
