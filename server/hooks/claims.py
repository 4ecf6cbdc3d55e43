"""Idempotency of webhook deliveries: one atomic claim per (hook, key) in Redis.

The first request with a `webhook-id` (or `Idempotency-Key`) sets the claim to
`pending:<token>` in one script (set only if absent, else read what is there), starts the run,
and then settles the claim to the run's id for 24 hours. Every other request with that key sees
either the run id (a duplicate: answer with that run) or `pending:` (the first request is still
starting it: wait a moment for the id). A start that fails (invalid inputs, say) releases the
claim, so a corrected retry can go through; a process that dies mid-start leaves a pending claim
that lapses after PENDING_SECONDS.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
import uuid
from uuid import UUID

import msgspec
from redis.asyncio import Redis

from server.keys import RedisKeys

IDEMPOTENCY_SECONDS = 24 * 3600
PENDING_SECONDS = 60
_PENDING = "pending:"

_CLAIM = """
local current = redis.call('GET', KEYS[1])
if current then return current end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return false
"""

_IF_OURS = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == '' then return redis.call('DEL', KEYS[1]) end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
return 1
"""


class Claim(msgspec.Struct, frozen=True):
    """The outcome of claiming a key: `token` when this request won it, else the run it named
    (None while the winner is still starting it)."""

    key: str
    token: str | None = None
    run_id: UUID | None = None

    @property
    def won(self) -> bool:
        return self.token is not None


class Claims:
    """Claims idempotency keys of hooks (see the module docstring)."""

    def __init__(self, redis: Redis, keys: RedisKeys) -> None:
        self._redis = redis
        self._keys = keys
        self._claim = redis.register_script(_CLAIM)
        self._if_ours = redis.register_script(_IF_OURS)

    def _key(self, hook_id: UUID, key: str) -> str:
        return self._keys.hook_claim(str(hook_id), hashlib.sha256(key.encode()).hexdigest()[:40])

    async def claim(self, hook_id: UUID, key: str) -> Claim:
        redis_key = self._key(hook_id, key)
        token = _PENDING + secrets.token_hex(8)
        current = await self._claim(keys=[redis_key], args=[token, PENDING_SECONDS])
        if current is None:
            return Claim(redis_key, token=token)
        return Claim(redis_key, run_id=_run_id(current))

    async def wait(self, claim: Claim, seconds: float) -> UUID | None:
        """The run a pending claim settles to within `seconds` (None if it does not)."""
        deadline = time.monotonic() + seconds
        delay = 0.005
        while time.monotonic() < deadline:
            await asyncio.sleep(delay)
            value = await self._redis.get(claim.key)
            if value is None:
                return None  # the winner failed and released it
            run_id = _run_id(value)
            if run_id is not None:
                return run_id
            delay = min(delay * 2, 0.1)
        return None

    async def settle(self, claim: Claim, run_id: UUID) -> None:
        """The claim now names its run, for IDEMPOTENCY_SECONDS."""
        await self._if_ours(keys=[claim.key], args=[claim.token or "", str(run_id), IDEMPOTENCY_SECONDS])

    async def release(self, claim: Claim) -> None:
        """Give the key up (the start failed), unless someone else holds it by now."""
        await self._if_ours(keys=[claim.key], args=[claim.token or "", "", 0])


def _run_id(value: bytes | str) -> UUID | None:
    text = value.decode() if isinstance(value, bytes) else value
    if text.startswith(_PENDING):
        return None
    try:
        return uuid.UUID(text)
    except ValueError:
        return None
