"""Open WebSockets per user and per workflow, counted across every web process (Redis).

Each socket holds a member `{process}:{socket}` in two sorted sets (the user's, the
workflow's), scored by when its claim lapses. The process renews its sockets' claims every
third of `ttl`; claims of a process that died lapse by themselves, so a crash frees its slots
within `ttl` seconds. Checking and taking a slot is one script, so two sockets opened at the
same moment on two processes cannot both take the last slot. Sockets that ask in the same turn
of the event loop (a burst of joins) send their scripts in one pipeline: one round trip on one
connection, rather than one each on as many new connections.
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

from server.keys import RedisKeys

log = logging.getLogger(__name__)

# KEYS: user set, workflow set; ARGV: now, lapse time, member, user limit, workflow limit, ttl ms.
_ACQUIRE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then return 1 end
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[5]) then return 2 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[6])
redis.call('PEXPIRE', KEYS[2], ARGV[6])
return 0
"""


class Refusal(Enum):
    USER = 1
    WORKFLOW = 2


@dataclass(frozen=True)
class _Claim:
    user_key: str
    workflow_key: str
    member: str


class ConnectionLimits:
    """Takes and frees the slots of this process's sockets; renews them while they are open."""

    def __init__(self, redis: Redis, keys: RedisKeys, *, per_user: int, per_workflow: int, ttl: float = 60.0) -> None:
        self._redis = redis
        self._keys = keys
        self.per_user = per_user
        self.per_workflow = per_workflow
        self.ttl = ttl
        self._process = uuid.uuid4().hex
        self._acquire = redis.register_script(_ACQUIRE)
        self._claims: dict[str, _Claim] = {}
        self._renewer: asyncio.Task[None] | None = None
        self._asking: list[tuple[_Claim, asyncio.Future[int]]] = []
        self._sending: set[asyncio.Task[None]] = set()

    async def acquire(self, user_id: str, workflow_id: str, socket_id: str) -> Refusal | None:
        """Take a slot for this socket, or say which limit it would break. When Redis cannot be
        reached the socket is let in (the collaboration itself is degraded then anyway)."""
        claim = _Claim(
            self._keys.connections_of_user(user_id),
            self._keys.connections_of_workflow(workflow_id),
            f"{self._process}:{socket_id}",
        )
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[int] = loop.create_future()
        self._asking.append((claim, answer))
        if len(self._asking) == 1:
            loop.call_soon(self._send_asked)
        try:
            verdict = await answer
        except RedisError as err:
            log.warning("connection_limits_unavailable", extra={"error": repr(err)})
            return None
        if verdict:
            return Refusal(int(verdict))
        self._claims[socket_id] = claim
        return None

    def _send_asked(self) -> None:
        asked, self._asking = self._asking, []
        task = asyncio.get_running_loop().create_task(self._ask(asked))
        self._sending.add(task)  # kept until done, so it is not collected half-way
        task.add_done_callback(self._sending.discard)

    async def _ask(self, asked: list[tuple[_Claim, asyncio.Future[int]]]) -> None:
        now = time.time()
        limits = [self.per_user, self.per_workflow, int(self.ttl * 2000)]
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for claim, _ in asked:
                    keys = [claim.user_key, claim.workflow_key]
                    await self._acquire(keys=keys, args=[now, now + self.ttl, claim.member, *limits], client=pipe)
                verdicts = await pipe.execute(raise_on_error=False)
        except (RedisError, OSError, asyncio.CancelledError) as err:
            failure = err if isinstance(err, RedisError) else RedisError(repr(err))
            for _, answer in asked:
                if not answer.done():
                    answer.set_exception(failure)
            if isinstance(err, asyncio.CancelledError):
                raise
            return
        for (_, answer), verdict in zip(asked, verdicts, strict=True):
            if answer.done():
                continue
            if isinstance(verdict, Exception):
                answer.set_exception(verdict if isinstance(verdict, RedisError) else RedisError(repr(verdict)))
            else:
                answer.set_result(int(verdict))

    async def release(self, socket_id: str) -> None:
        claim = self._claims.pop(socket_id, None)
        if claim is None:
            return
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.zrem(claim.user_key, claim.member)
                pipe.zrem(claim.workflow_key, claim.member)
                await pipe.execute()
        except RedisError as err:  # the claim lapses by itself
            log.warning("connection_limits_unavailable", extra={"error": repr(err)})

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
        self._renewer = asyncio.create_task(self._renew_forever(), name="connection-limits")

    async def stop(self) -> None:
        if self._renewer is not None:
            self._renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewer
        for socket_id in list(self._claims):
            await self.release(socket_id)

    async def _renew_forever(self) -> None:
        while True:
            await asyncio.sleep(self.ttl / 3)
            try:
                await self.renew()
            except RedisError as err:
                log.warning("connection_limits_unavailable", extra={"error": repr(err)})
