"""Run events and work hand-off over Redis: the engine's `EventSink` and `Dispatcher`.

Events: one Lua script increments the run's sequence counter and publishes the event with that
number, so sequence numbers have no gaps or duplicates however many processes publish for one
run, and every subscriber sees them in order. The same script keeps the text each running node
has streamed so far (appended by `node_progress`, cleared when the node starts or finishes, gone
with the run's end), so a reader who asks for a run mid-stream gets the text up to a known
`seq` (`RedisEventSink.position`) and continues from the events after it.

Work: jobs go to the arq queue in one round trip per batch (a fan-out of hundreds of nodes must
not cost hundreds of round trips). A job id names the run, node and attempt, and is set only if
absent, so asking twice for the same work queues it once.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from typing import Any, Protocol

import msgspec
from arq.jobs import serialize_job
from arq.utils import timestamp_ms
from redis.asyncio import Redis

from engine.events import NodeFinished, NodeProgress, NodeStarted, RunEvent, RunFinished, with_seq
from engine.store import EventSink
from server.keys import RedisKeys

SEQ_TTL_SECONDS = 7 * 24 * 3600
JOB_EXPIRY_MS = 24 * 3600 * 1000

# KEYS: the run's event counter, the workflow's run channel, the run's streamed text (hash by node).
# ARGV[1]: time to live (s); then five per event: encoded head, encoded tail (the seq goes between),
# what the event does to the streamed text ('', 'append', 'clear' or 'drop'), node id, delta.
_PUBLISH_ALL = """
local seqs = {}
for i = 2, #ARGV, 5 do
  local seq = redis.call('INCR', KEYS[1])
  local op = ARGV[i + 2]
  if op == 'append' then
    local text = redis.call('HGET', KEYS[3], ARGV[i + 3]) or ''
    redis.call('HSET', KEYS[3], ARGV[i + 3], text .. ARGV[i + 4])
  elseif op == 'clear' then
    redis.call('HDEL', KEYS[3], ARGV[i + 3])
  elseif op == 'drop' then
    redis.call('DEL', KEYS[3])
  end
  redis.call('PUBLISH', KEYS[2], ARGV[i] .. seq .. ARGV[i + 1])
  seqs[#seqs + 1] = seq
end
redis.call('EXPIRE', KEYS[1], ARGV[1])
if redis.call('EXISTS', KEYS[3]) == 1 then
  redis.call('EXPIRE', KEYS[3], ARGV[1])
end
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


def _text_change(event: RunEvent) -> tuple[str, str, str]:
    """What `event` does to its run's streamed text: (operation, node id, delta)."""
    if isinstance(event, NodeProgress):
        return ("append", event.node_id, event.delta) if event.delta else ("", "", "")
    if isinstance(event, NodeStarted | NodeFinished):
        return "clear", event.node_id, ""
    if isinstance(event, RunFinished):
        return "drop", "", ""
    return "", "", ""


class RunPosition(msgspec.Struct, frozen=True):
    """How far a run's events have gone: the last `seq` published, and the text each running
    node has streamed up to that event."""

    seq: int
    streamed: dict[str, str]


class RunEvents(EventSink, Protocol):
    """An `EventSink` that can also say where a run's event stream stands."""

    async def position(self, run_id: str) -> RunPosition: ...


class RedisEventSink:
    """Publishes run events on `runs:{workflow_id}` with per-run sequence numbers, and keeps the
    text running nodes have streamed."""

    def __init__(self, redis: Redis, keys: RedisKeys) -> None:
        self._redis = redis
        self._keys = keys
        self._publish_all = redis.register_script(_PUBLISH_ALL)

    async def publish(self, workflow_id: str, event: RunEvent) -> int:
        return (await self.publish_all(workflow_id, [event]))[0]

    async def publish_all(self, workflow_id: str, events: Sequence[RunEvent]) -> list[int]:
        if not events:
            return []
        run_id = events[0].run_id
        args: list[bytes | str | int] = [SEQ_TTL_SECONDS]
        for event in events:
            args += [*split_for_seq(event), *_text_change(event)]
        keys = [self._keys.run_seq(run_id), self._keys.runs_channel(workflow_id), self._keys.run_text(run_id)]
        seqs = await self._publish_all(keys=keys, args=args)
        return [int(seq) for seq in seqs]

    async def position(self, run_id: str) -> RunPosition:
        """The run's last published `seq` and its running nodes' streamed text, read together.

        Read it before the run's rows: a state change is stored before its event is published,
        so the rows read afterwards hold every change up to `seq` (and perhaps a few after it,
        which applying their events again leaves as they are)."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.get(self._keys.run_seq(run_id))
            pipe.hgetall(self._keys.run_text(run_id))
            seq, texts = await pipe.execute()
        streamed = {_text(k): _text(v) for k, v in texts.items()}
        return RunPosition(seq=int(seq or 0), streamed=streamed)


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else value


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
