"""Media rows and who may use them, on an asyncpg pool (the web's and the worker's alike).

A media file belongs to the workflows linked to it (`media_links`): the one it was uploaded for
or produced in, and workflows that took it over (a duplicate, an import by someone who could
read it). Members of a linked, live workflow may read it. A file uploaded without naming a
workflow is readable by its uploader only, and becomes part of a workflow when a run of that
workflow — one its uploader is a member of — first uses it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg
import msgspec

from engine.graph import Graph
from server.media.probe import Probed

UPLOAD_NODE_TYPES = frozenset({"upload_image", "upload_video"})

_COLUMNS = (
    "m.id, m.owner, m.workflow, m.kind, m.filename, m.content_type, m.size, m.sha256, m.storage_key, "
    "m.width, m.height, m.duration, m.created_at"
)

_READABLE = f"""
SELECT {_COLUMNS} FROM media m
WHERE m.id = $1 AND (
    (m.workflow IS NULL AND m.owner = $2)
    OR EXISTS (
        SELECT 1 FROM media_links l
        JOIN memberships ms ON ms.workflow = l.workflow
        JOIN workflows w ON w.id = l.workflow
        WHERE l.media = m.id AND ms."user" = $2 AND w.deleted_at IS NULL
    )
)
"""

_USABLE = f"""
SELECT {_COLUMNS},
       EXISTS (SELECT 1 FROM media_links l WHERE l.media = m.id AND l.workflow = $2) AS linked
FROM media m
WHERE m.id = $1 AND (
    EXISTS (SELECT 1 FROM media_links l WHERE l.media = m.id AND l.workflow = $2)
    OR (m.workflow IS NULL
        AND EXISTS (SELECT 1 FROM memberships ms WHERE ms.workflow = $2 AND ms."user" = m.owner))
)
"""


@dataclass(frozen=True, kw_only=True)
class NewMedia:
    owner: UUID
    workflow: UUID | None
    filename: str
    size: int
    sha256: str
    storage_key: str
    probed: Probed
    run: UUID | None = None


def parse_id(raw: str) -> UUID | None:
    """A media id as typed on a node or in a URL, or None when it cannot be one."""
    try:
        return uuid.UUID(str(raw).strip())
    except ValueError:
        return None


async def insert(connection: asyncpg.Connection | asyncpg.Pool, media: NewMedia) -> dict[str, Any]:
    """Record a stored file (and link it to its workflow); returns the new row."""
    media_id = uuid.uuid4()
    probed = media.probed
    row = await connection.fetchrow(
        "WITH m AS (INSERT INTO media (id, owner, workflow, kind, filename, content_type, size, sha256, storage_key, "
        "created_at, width, height, duration, details, run) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, now(), "
        "$10, $11, $12, $13::jsonb, $14) RETURNING *), "
        "l AS (INSERT INTO media_links (id, media, workflow, created_at) "
        "SELECT $15, m.id, m.workflow, now() FROM m WHERE m.workflow IS NOT NULL) "
        f"SELECT {_COLUMNS} FROM m",
        media_id,
        media.owner,
        media.workflow,
        probed.kind,
        media.filename,
        probed.content_type,
        media.size,
        media.sha256,
        media.storage_key,
        probed.width,
        probed.height,
        probed.duration,
        msgspec.json.encode(probed.details).decode(),
        media.run,
        uuid.uuid4(),
    )
    return dict(row)


async def readable(pool: asyncpg.Pool, media_id: UUID, user_id: UUID) -> dict[str, Any] | None:
    """The media row if `user_id` may read it, else None (the caller answers 404 either way)."""
    row = await pool.fetchrow(_READABLE, media_id, user_id)
    return dict(row) if row else None


async def usable(pool: asyncpg.Pool, media_id: UUID, workflow_id: UUID) -> dict[str, Any] | None:
    """The media row if a run of `workflow_id` may use it, linking an unattached upload of one of
    the workflow's members to the workflow on first use; None otherwise."""
    row = await pool.fetchrow(_USABLE, media_id, workflow_id)
    if row is None:
        return None
    if not row["linked"]:
        await link(pool, [media_id], workflow_id)
    return dict(row)


async def link(connection: asyncpg.Connection | asyncpg.Pool, media_ids: Iterable[UUID], workflow_id: UUID) -> None:
    """Make media files part of a workflow (its members may then read them)."""
    ids = sorted(set(media_ids))
    if ids:
        await connection.execute(
            "INSERT INTO media_links (id, media, workflow, created_at) "
            "SELECT gen_random_uuid(), id, $2, now() FROM unnest($1::uuid[]) AS m(id) "
            "WHERE EXISTS (SELECT 1 FROM media WHERE media.id = m.id) ON CONFLICT (media, workflow) DO NOTHING",
            ids,
            workflow_id,
        )


def graph_media_ids(graph: Graph) -> set[UUID]:
    """Media ids typed on the upload nodes of a graph."""
    found = set()
    for node in graph.nodes.values():
        if node.type in UPLOAD_NODE_TYPES:
            media_id = parse_id(str(node.data.get("media_id", "")))
            if media_id is not None:
                found.add(media_id)
    return found


async def adopt_graph_media(pool: asyncpg.Pool, graph: Graph, workflow_id: UUID, user_id: UUID) -> None:
    """Link to a new workflow (a duplicate, an import) the files its upload nodes name that its
    creator may read; other ids stay foreign and their nodes ask for an upload when run."""
    wanted = graph_media_ids(graph)
    allowed = [media_id for media_id in wanted if await readable(pool, media_id, user_id) is not None]
    await link(pool, allowed, workflow_id)
