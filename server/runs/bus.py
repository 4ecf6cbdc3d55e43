"""Run events and work hand-off over Redis: the engine's `EventSink` and `Dispatcher`.

Events: one Lua script increments the run's sequence counter and publishes the event with that
number, so sequence numbers have no gaps or duplicates however many processes publish for one
run, and every subscriber sees them in order.

Work: jobs go to the arq queue in one round trip per batch (a fan-out of hundreds of nodes must
not cost hundreds of round trips). A job id names the run, node and attempt, and is set only if
absent, so asking twice for the same work queues it once.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from typing import Any

import msgspec
from arq.jobs import serialize_job
from arq.utils import timestamp_ms
from redis.asyncio import Redis

from engine.events import RunEvent, with_seq
from server.keys import RedisKeys

SEQ_TTL_SECONDS = 7 * 24 * 3600
JOB_EXPIRY_MS = 24 * 3600 * 1000

_PUBLISH = """
local seq = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('PUBLISH', KEYS[2], ARGV[1] .. seq .. ARGV[2])
return seq
"""

_PUBLISH_ALL = """
local seqs = {}
for i = 2, #ARGV, 2 do
  local seq = redis.call('INCR', KEYS[1])
  redis.call('PUBLISH', KEYS[2], ARGV[i] .. seq .. ARGV[i + 1])
  seqs[#seqs + 1] = seq
end
redis.call('EXPIRE', KEYS[1], ARGV[1])
return seqs
"""

_ENQUEUE = """
local queued = 0
for i = 3, #ARGV, 3 do
  if redis.call('SET', ARGV[i], ARGV[i + 2], 'PX', ARGV[2], 'NX') then
    redis.call('ZADD', KEYS[1], ARGV[1], ARGV[i + 1])
    queued = queued + 1
  end
end
return queued
"""

_SEQ_MARK = b'"seq":-1'
_encoder = msgspec.json.Encoder()


def split_for_seq(event: RunEvent) -> tuple[bytes, bytes]:
    """The encoded event cut where its sequence number goes (seq is the first field after the
    tag and the run id, so the first match is the field itself)."""
    raw = _encoder.encode(with_seq(event, -1))
    head, mark, tail = raw.partition(_SEQ_MARK)
    if not mark:
        raise ValueError("event encoding has no seq field")
    return head + b'"seq":', tail


class RedisEventSink:
    """Publishes run events on `runs:{workflow_id}` with per-run sequence numbers."""

    def __init__(self, redis: Redis, keys: RedisKeys) -> None:
        self._keys = keys
        self._publish = redis.register_script(_PUBLISH)
        self._publish_all = redis.register_script(_PUBLISH_ALL)

    async def publish(self, workflow_id: str, event: RunEvent) -> int:
        head, tail = split_for_seq(event)
        seq = await self._publish(
            keys=[self._keys.run_seq(event.run_id), self._keys.runs_channel(workflow_id)],
            args=[head, tail, SEQ_TTL_SECONDS],
        )
        return int(seq)

    async def publish_all(self, workflow_id: str, events: Sequence[RunEvent]) -> list[int]:
        if not events:
            return []
        args: list[bytes | int] = [SEQ_TTL_SECONDS]
        for event in events:
            args += split_for_seq(event)
        seqs = await self._publish_all(
            keys=[self._keys.run_seq(events[0].run_id), self._keys.runs_channel(workflow_id)], args=args
        )
        return [int(seq) for seq in seqs]


MAX_BATCH = 32


def batches(nodes: Sequence[tuple[str, int]]) -> list[Sequence[tuple[str, int]]]:
    """Ready nodes grouped into jobs: at least four jobs when there are that many nodes, so that
    several workers share a fan-out, and at most MAX_BATCH nodes per job, so that a wide fan-out
    does not pay the queue's cost once per node."""
    size = max(1, min(MAX_BATCH, math.ceil(len(nodes) / 4)))
    return [nodes[start : start + size] for start in range(0, len(nodes), size)]


def _digest(batch: Sequence[tuple[str, int]]) -> str:
    return hashlib.sha256(repr(sorted(batch)).encode()).hexdigest()[:24]


class ArqDispatcher:
    """Queues `start_run` and `run_nodes` jobs for the workers (see `server.worker`)."""

    def __init__(self, redis: Redis, keys: RedisKeys) -> None:
        self._redis = redis
        self._control = keys.run_control()
        self._queue = keys.arq_queue()
        self._prefix = keys.arq_job_prefix()
        self._enqueue = redis.register_script(_ENQUEUE)

    async def start_run(self, run_id: str) -> None:
        await self._jobs([(f"start:{run_id}", "start_run", (run_id,))])

    async def stop_run(self, run_id: str) -> None:
        """Tell every worker that the run was asked to cancel (they stop its running nodes)."""
        await self._redis.publish(self._control, run_id)

    async def run_nodes(self, run_id: str, nodes: Sequence[tuple[str, int]]) -> None:
        await self._jobs(
            [
                (f"nodes:{run_id}:{_digest(batch)}", "run_nodes", (run_id, [node_id for node_id, _ in batch]))
                for batch in batches(nodes)
            ]
        )

    async def job(self, job_id: str, function: str, *args: Any) -> None:
        """Queue one job of any kind (a worker function named `function`), once: nothing happens
        while a job with `job_id` is queued, running or kept."""
        await self._jobs([(job_id, function, args)])

    async def _jobs(self, jobs: Sequence[tuple[str, str, tuple[Any, ...]]]) -> None:
        if not jobs:
            return
        now = timestamp_ms()
        args: list[bytes | str | int] = [now, JOB_EXPIRY_MS]
        for job_id, function, job_args in jobs:
            args += [self._prefix + job_id, job_id, serialize_job(function, job_args, {}, None, now)]
        await self._enqueue(keys=[self._queue], args=args)
