"""Wires the collaboration library to Postgres (document store), Redis (bus) and memberships."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any
from uuid import UUID

from redis.asyncio import Redis

from collab.bus import RedisBus
from collab.connection import CloseCode
from collab.hub import Hub
from collab.journal import RedisJournal
from collab.keys import CollabKeys
from collab.room import Limits
from collab.spool import Spool
from server.keys import RedisKeys
from server.settings import Settings
from server.tables import can_write
from server.workflows.codec import DocumentCodec
from server.workflows.service import role_of
from server.workflows.store import PostgresDocumentStore


def build_hub(
    settings: Settings,
    bus: RedisBus,
    redis: Redis,
    codec: DocumentCodec,
    *,
    on_access_change: Callable[[str], None] = lambda doc_id: None,
) -> Hub:
    """The hub; `on_access_change(doc_id)` hears of every access change to an open document."""
    keys = RedisKeys(settings.redis_namespace)
    hub: Hub

    async def on_control(doc_id: str, event: dict[str, Any]) -> None:
        on_access_change(doc_id)
        if event.get("type") == "deleted":
            hub.close_document(doc_id, CloseCode.NOT_FOUND, "this workflow was deleted")
            return
        user_id = str(event.get("user_id"))
        if not hub.connections_of(doc_id, user_id):
            return
        role = await role_of(UUID(doc_id), UUID(user_id))
        hub.set_access(doc_id, user_id, None if role is None else can_write(role))

    hub = Hub(
        PostgresDocumentStore(codec),
        bus,
        CollabKeys(keys.collab_prefix()),
        journal=RedisJournal(redis, keys.collab_prefix()),
        spool=Spool(spool_directory(settings)) if settings.collab_spool else None,
        limits=Limits(
            max_nodes=settings.max_nodes, max_edges=settings.max_edges, max_document_bytes=settings.max_document_bytes
        ),
        flush_interval=settings.collab_flush_interval,
        sweep_interval=settings.collab_sweep_interval,
        stale_after=settings.collab_stale_after,
        unload_after=settings.collab_unload_after,
        version_every=settings.version_every,
        text_channels=lambda doc_id: [keys.runs_channel(doc_id)],
        on_control=on_control,
        max_connection_queue=settings.ws_send_queue,
        max_connection_bytes=settings.ws_send_queue_bytes,
    )
    return hub


def spool_directory(settings: Settings) -> Path:
    """This installation's spool directory: one per database and Redis namespace, so two
    installations on one machine never store each other's updates."""
    installation = hashlib.sha256(f"{settings.database_url}\n{settings.redis_namespace}".encode()).hexdigest()
    return settings.collab_spool_dir / installation[:16]
