"""Wires the collaboration library to Postgres (document store), Redis (bus) and memberships."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from redis.asyncio import Redis

from collab.bus import RedisBus
from collab.hub import Hub
from collab.journal import RedisJournal
from collab.keys import CollabKeys
from collab.room import Limits
from server.keys import RedisKeys
from server.settings import Settings
from server.tables import ROLE_RANK, Role
from server.workflows.codec import DocumentCodec
from server.workflows.service import role_of
from server.workflows.store import PostgresDocumentStore

CLOSE_REMOVED = 4403
CLOSE_GONE = 4404


def build_hub(settings: Settings, bus: RedisBus, redis: Redis, codec: DocumentCodec) -> Hub:
    keys = RedisKeys(settings.redis_namespace)
    hub: Hub

    async def on_control(doc_id: str, event: dict[str, Any]) -> None:
        room = hub.rooms.get(doc_id)
        if room is None:
            return
        if event.get("type") == "deleted":
            for connection in list(room.connections.values()):
                connection.shut(CLOSE_GONE, "this workflow was deleted")
            return
        user_id = event.get("user_id")
        affected = [c for c in room.connections.values() if c.identity.user_id == user_id]
        if not affected:
            return
        role = await role_of(UUID(doc_id), UUID(str(user_id)))
        for connection in affected:
            if role is None:
                connection.shut(CLOSE_REMOVED, "you are no longer a member of this workflow")
            else:
                connection.identity.can_write = ROLE_RANK[role] >= ROLE_RANK[Role.EDITOR]

    hub = Hub(
        PostgresDocumentStore(codec),
        bus,
        CollabKeys(keys.collab_prefix()),
        journal=RedisJournal(redis, keys.collab_prefix()),
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
