"""Server-side sessions in Redis.

The cookie holds a random id; Redis holds `sha256(id)` → the session, so a leaked Redis dump
cannot be replayed as cookies. A new id is issued at every sign-in (no session fixation) and a
user's sessions are indexed so they can all be revoked at once.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Awaitable, Callable

import msgspec
from redis.asyncio import Redis

from server.keys import RedisKeys

SESSION_COOKIE = "galaxy_session"


class Session(msgspec.Struct, frozen=True):
    user_id: str
    csrf_token: str
    created_at: float


def session_digest(session_id: str) -> str:
    """What the store keys a session under (never the id itself)."""
    return hashlib.sha256(session_id.encode()).hexdigest()


class SessionStore:
    """Creates, reads and revokes sessions; every session expires after `max_age` seconds."""

    def __init__(
        self,
        redis: Redis,
        keys: RedisKeys,
        max_age: int,
        on_revoked: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        """`on_revoked(digest)` runs for every session revoked (to close its open sockets)."""
        self._redis = redis
        self._keys = keys
        self.max_age = max_age
        self._on_revoked = on_revoked

    async def create(self, user_id: str) -> tuple[str, Session]:
        session_id = secrets.token_urlsafe(32)
        session = Session(user_id=user_id, csrf_token=secrets.token_urlsafe(32), created_at=time.time())
        digest = session_digest(session_id)
        index = self._keys.user_sessions(user_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(self._keys.session(digest), msgspec.json.encode(session), ex=self.max_age)
            pipe.sadd(index, digest)
            pipe.expire(index, self.max_age)
            await pipe.execute()
        return session_id, session

    async def get(self, session_id: str) -> Session | None:
        if not session_id or len(session_id) > 128:
            return None
        raw = await self._redis.get(self._keys.session(session_digest(session_id)))
        if raw is None:
            return None
        try:
            return msgspec.json.decode(raw, type=Session)
        except msgspec.DecodeError:
            return None

    async def revoke(self, session_id: str) -> None:
        digest = session_digest(session_id)
        session = await self.get(session_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(self._keys.session(digest))
            if session is not None:
                pipe.srem(self._keys.user_sessions(session.user_id), digest)
            await pipe.execute()
        await self._revoked([digest])

    async def revoke_all(self, user_id: str) -> None:
        index = self._keys.user_sessions(user_id)
        digests: set[bytes] = await self._redis.smembers(index)  # type: ignore[misc]
        keys = [self._keys.session(d.decode() if isinstance(d, bytes) else d) for d in digests]
        if keys:
            await self._redis.delete(*keys)
        await self._redis.delete(index)
        await self._revoked([d.decode() if isinstance(d, bytes) else d for d in digests])

    async def _revoked(self, digests: list[str]) -> None:
        if self._on_revoked is not None:
            for digest in digests:
                await self._on_revoked(digest)
