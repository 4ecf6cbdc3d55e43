"""Open WebSockets per user and per workflow, counted across every web process (Redis).

Each socket holds a member `{process}:{socket}` in two sorted sets (the user's, the
workflow's), scored by when its claim lapses. The process renews its sockets' claims every
third of `ttl`; claims of a process that died lapse by themselves, so a crash frees its slots
within `ttl` seconds. Checking and taking a slot is one script, so two sockets opened at the
same moment on two processes cannot both take the last slot.

Every socket asks as it joins and frees its slot as it closes, so these calls run on a
connection of their own (collab/scripts.py), and sockets that ask while a call is under way (a
burst of joins) are answered together by the next: one script call takes their slots in turn.
Freeing slots goes the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from dataclasses import dataclass
from enum import Enum

from redis.asyncio import Redis
from redis.exceptions import RedisError

from collab.batch import Batch
from collab.scripts import Script, ScriptConnection
from server.keys import RedisKeys

log = logging.getLogger(__name__)

# KEYS: user set and workflow set of each claim in turn; ARGV: now, lapse time, user limit,
# workflow limit, ttl ms, then each claim's member. Returns each claim's verdict: 0 taken, 1 the
# user's limit, 2 the workflow's.
_ACQUIRE = Script("""
local now, lapse = ARGV[1], ARGV[2]
local per_user, per_workflow, ttl = tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5]
local verdicts = {}
for i = 1, #KEYS / 2 do
  local user, workflow, member = KEYS[2 * i - 1], KEYS[2 * i], ARGV[5 + i]
  redis.call('ZREMRANGEBYSCORE', user, '-inf', now)
  redis.call('ZREMRANGEBYSCORE', workflow, '-inf', now)
  if redis.call('ZCARD', user) >= per_user then
    verdicts[i] = 1
  elseif redis.call('ZCARD', workflow) >= per_workflow then
    verdicts[i] = 2
  else
    redis.call('ZADD', user, lapse, member)
    redis.call('ZADD', workflow, lapse, member)
    redis.call('PEXPIRE', user, ttl)
    redis.call('PEXPIRE', workflow, ttl)
    verdicts[i] = 0
  end
end
return verdicts
""")

# KEYS: user set and workflow set of each claim in turn; ARGV: each claim's member.
_RELEASE = Script("""
for i = 1, #ARGV do
  redis.call('ZREM', KEYS[2 * i - 1], ARGV[i])
  redis.call('ZREM', KEYS[2 * i], ARGV[i])
end
return #ARGV
""")


class Refusal(Enum):
    USER = 1
    WORKFLOW = 2


@dataclass(frozen=True)
class _Claim:
    user_key: str
    workflow_key: str
    member: str


def _keys(claims: list[_Claim]) -> list[str]:
    """The scripts' KEYS: each claim's user set and workflow set, in turn."""
    return [key for claim in claims for key in (claim.user_key, claim.workflow_key)]


class ConnectionLimits:
    """Takes and frees the slots of this process's sockets; renews them while they are open."""

    def __init__(self, redis: Redis, keys: RedisKeys, *, per_user: int, per_workflow: int, ttl: float = 60.0) -> None:
        self._redis = redis
        self._keys = keys
        self.per_user = per_user
        self.per_workflow = per_workflow
        self.ttl = ttl
        self._process = uuid.uuid4().hex
        self._scripts = ScriptConnection(redis)
        self._claims: dict[str, _Claim] = {}
        self._renewer: asyncio.Task[None] | None = None
        self._acquiring = Batch(self._acquire)
        self._releasing = Batch(self._release)

    async def acquire(self, user_id: str, workflow_id: str, socket_id: str) -> Refusal | None:
        """Take a slot for this socket, or say which limit it would break. When Redis cannot be
        reached the socket is let in (the collaboration itself is degraded then anyway)."""
        claim = _Claim(
            self._keys.connections_of_user(user_id),
            self._keys.connections_of_workflow(workflow_id),
            f"{self._process}:{socket_id}",
        )
        try:
            verdict = await self._acquiring.ask(claim)
        except (RedisError, OSError) as err:
            log.warning("connection_limits_unavailable", extra={"error": repr(err)})
            return None
        if verdict:
            return Refusal(verdict)
        self._claims[socket_id] = claim
        return None

    async def _acquire(self, claims: list[_Claim]) -> list[int]:
        now = time.time()
        limits = [self.per_user, self.per_workflow, int(self.ttl * 2000)]
        members = [claim.member for claim in claims]
        verdicts = await self._scripts.run(_ACQUIRE, _keys(claims), [now, now + self.ttl, *limits, *members])
        return [int(verdict) for verdict in verdicts]

    async def release(self, socket_id: str) -> None:
        claim = self._claims.pop(socket_id, None)
        if claim is None:
            return
        try:
            await self._releasing.ask(claim)
        except (RedisError, OSError) as err:  # the claim lapses by itself
            log.warning("connection_limits_unavailable", extra={"error": repr(err)})

    async def _release(self, claims: list[_Claim]) -> list[None]:
        await self._scripts.run(_RELEASE, _keys(claims), [claim.member for claim in claims])
        return [None] * len(claims)

    async def renew(self) -> None:
        """Push the lapse time of every open socket's claim forward."""
        if not self._claims:
            return
        lapse = time.time() + self.ttl
        async with self._redis.pipeline(transaction=False) as pipe:
            for claim in list(self._claims.values()):
                pipe.zadd(claim.user_key, {claim.member: lapse}, xx=True)
                pipe.zadd(claim.workflow_key, {claim.member: lapse}, xx=True)
                pipe.pexpire(claim.user_key, int(self.ttl * 2000))
                pipe.pexpire(claim.workflow_key, int(self.ttl * 2000))
            await pipe.execute()

    async def start(self) -> None:
        try:
            await self._scripts.open([_ACQUIRE, _RELEASE])
        except (RedisError, OSError) as err:  # the first socket connects it
            log.warning("connection_limits_unavailable", extra={"error": repr(err)})
        self._renewer = asyncio.create_task(self._renew_forever(), name="connection-limits")

    async def stop(self) -> None:
        if self._renewer is not None:
            self._renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewer
        await asyncio.gather(*(self.release(socket_id) for socket_id in list(self._claims)))
        await self._scripts.close()

    async def _renew_forever(self) -> None:
        while True:
            await asyncio.sleep(self.ttl / 3)
            try:
                await self.renew()
            except RedisError as err:
                log.warning("connection_limits_unavailable", extra={"error": repr(err)})
