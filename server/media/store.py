"""`RunMedia`: the engine's `MediaStore` for one run, on the worker's pool and the storage.

A run may use the files linked to its workflow (and unattached uploads of its members, which
become linked on first use, see `service`); what it produces is stored as media of the workflow,
owned by whoever started the run (the workflow's owner when that account is gone).
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg

from engine.nodes.base import MediaInfo, MediaNotFound, MediaStore
from engine.store import RunSnapshot
from server.media import service
from server.media.probe import IMAGE, Probed
from server.media.service import NewMedia
from server.media.storage import Storage, key_for


def _info(row: dict[str, Any]) -> MediaInfo:
    return MediaInfo(
        id=str(row["id"]),
        kind=row["kind"],
        content_type=row["content_type"],
        size=row["size"],
        filename=row["filename"],
        width=row["width"],
        height=row["height"],
        duration=row["duration"],
    )


class RunMedia:
    def __init__(self, pool: asyncpg.Pool, storage: Storage, run_id: str, workflow_id: str) -> None:
        self.pool = pool
        self.storage = storage
        self.run_id = UUID(run_id)
        self.workflow_id = UUID(workflow_id)
        self._rows: dict[str, dict[str, Any]] = {}

    async def _row(self, media_id: str) -> dict[str, Any]:
        if media_id not in self._rows:
            parsed = service.parse_id(media_id)
            row = await service.usable(self.pool, parsed, self.workflow_id) if parsed is not None else None
            if row is None:
                raise MediaNotFound(media_id)
            self._rows[media_id] = row
        return self._rows[media_id]

    async def info(self, media_id: str) -> MediaInfo:
        return _info(await self._row(media_id))

    async def read(self, media_id: str) -> bytes:
        return await self.storage.read((await self._row(media_id))["storage_key"])

    @contextlib.asynccontextmanager
    async def local_path(self, media_id: str) -> AsyncIterator[Path]:
        row = await self._row(media_id)
        async with self.storage.local_path(row["storage_key"]) as path:
            yield path

    async def save(
        self,
        data: bytes,
        *,
        content_type: str,
        filename: str,
        width: int | None = None,
        height: int | None = None,
    ) -> str:
        sha = hashlib.sha256(data).hexdigest()
        key = key_for(sha)
        created = await self.storage.put(data, key)
        try:
            owner = await self.pool.fetchval(
                "SELECT coalesce(r.actor, w.owner) FROM runs r JOIN workflows w ON w.id = r.workflow WHERE r.id = $1",
                self.run_id,
            )
            if owner is None:
                raise MediaNotFound(f"run {self.run_id} is gone")
            row = await service.insert(
                self.pool,
                NewMedia(
                    owner=owner,
                    workflow=self.workflow_id,
                    filename=filename,
                    size=len(data),
                    sha256=sha,
                    storage_key=key,
                    probed=Probed(kind=IMAGE, content_type=content_type, width=width, height=height),
                    run=self.run_id,
                ),
            )
        except BaseException:
            if created:
                await self.storage.delete(key)
            raise
        return str(row["id"])


def run_media(pool: asyncpg.Pool, storage: Storage) -> Callable[[RunSnapshot], MediaStore]:
    """The scheduler's media factory: one `RunMedia` per node execution."""

    def for_run(snapshot: RunSnapshot) -> RunMedia:
        return RunMedia(pool, storage, snapshot.run_id, snapshot.workflow_id)

    return for_run
