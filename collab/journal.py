"""The journal: an accepted update is durable before any other client can see it.

A web process appends every update its clients send to the journal (a Redis Stream per
document) and only then shows it to anyone: the append and the publish to the other processes
happen in one Redis script, and the process sends the update to its own clients after the
script returned. The update reaches the Postgres log with the next batched flush, after which
its journal entry is released. So if the process dies between accepting an update and
flushing it, the update is still in the journal:

- a room that opens anywhere reads the journal first, then the store, and merges both (read in
  that order, an entry released meanwhile is already in the store);
- REST reads add the journal to what they read from the store;
- every process sweeps the journal for entries older than a few flush intervals (their writer
  is gone, or Postgres is down), stores them, publishes them to open rooms and releases them.

Durability across a Redis crash is Redis' own: run it with `appendonly yes` (see ARCHITECTURE.md).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis

from collab.batch import Batch
from collab.bus import MemoryBusClient
from collab.scripts import Argument, Script, ScriptConnection

Entry = tuple[str, bytes, str | None]  # entry id, update, author id


@dataclass(frozen=True)
class Append:
    """One update to journal; `channel`/`header`: publish `header + update` there afterwards."""

    doc_id: str
    update: bytes
    author: str | None
    channel: str | None = None
    header: bytes = b""


class Journal(Protocol):
    """Durable, ordered staging of updates between their acceptance and the store."""

    async def append(self, appends: list[Append]) -> list[str]:
        """Journal every update and then publish those with a channel, atomically; return the
        entry ids in order. Raises when the journal cannot be written."""
        ...

    async def read(self, doc_id: str) -> list[Entry]:
        """Entries of a document that are not known to be in the store yet, oldest first."""
        ...

    async def release(self, entries: dict[str, list[str]]) -> None:
        """Forget entries (ids by document) that are now in the store."""
        ...

    async def stale(self, older_than: float, *, limit: int = 100) -> dict[str, list[Entry]]:
        """Entries journaled more than `older_than` seconds ago, by document: their writer did
        not store them. Each document is handed to one caller at a time (for `older_than`)."""
        ...

    async def open(self) -> None:
        """Make ready what the first appends and reads need. Raises when it cannot be reached."""
        ...

    async def close(self) -> None:
        """Let go of connections of its own (the Redis client stays its owner's)."""
        ...


# KEYS[1] index (zset doc id -> time of its oldest entry); ARGV[1] stream key prefix, ARGV[2]
# now (seconds), then five per update: doc id, update, author, channel ("" = none), header.
# Stream keys are derived from the prefix, so this script assumes a single Redis (not Cluster).
_APPEND = Script("""
local ids = {}
for i = 3, #ARGV, 5 do
  local doc, data, author, channel = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  ids[#ids + 1] = redis.call('XADD', ARGV[1] .. doc, '*', 'u', data, 'a', author)
  redis.call('ZADD', KEYS[1], 'NX', ARGV[2], doc)
  if channel ~= '' then redis.call('PUBLISH', channel, ARGV[i + 4] .. data) end
end
return ids
""")

# KEYS[1] index; ARGV[1] stream key prefix, then per document: doc id, count n, n entry ids.
# A stream left empty is deleted and its document leaves the index.
_RELEASE = Script("""
local i = 2
while i <= #ARGV do
  local doc, n = ARGV[i], tonumber(ARGV[i + 1])
  local stream = ARGV[1] .. doc
  for first = i + 2, i + 1 + n, 1000 do  -- unpack has a stack limit
    redis.call('XDEL', stream, unpack(ARGV, first, math.min(first + 999, i + 1 + n)))
  end
  if redis.call('XLEN', stream) == 0 then
    redis.call('DEL', stream)
    redis.call('ZREM', KEYS[1], doc)
  end
  i = i + 2 + n
end
return 0
""")

_RELEASE_IDS = 5000  # entry ids per script call, so one call never holds Redis for long

# KEYS: streams; returns the entries of each.
_READ = Script("""
local found = {}
for i, stream in ipairs(KEYS) do found[i] = redis.call('XRANGE', stream, '-', '+') end
return found
""")


class RedisJournal:
    """The journal in Redis: a stream per document and an index of documents with entries.
    Appends are on every edit's path to the screen: they run on a connection of their own
    (collab/scripts.py)."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix
        self._index = f"{prefix}:journal"
        self._streams = f"{prefix}:journal:"
        self._scripts = ScriptConnection(redis)
        self._reading = Batch(self._read)

    def _stream(self, doc_id: str) -> str:
        return self._streams + doc_id

    async def append(self, appends: list[Append]) -> list[str]:
        if not appends:
            return []
        args: list[Argument] = [self._streams, time.time()]
        for a in appends:
            args += [a.doc_id, a.update, a.author or "", a.channel or "", a.header]
        ids = await self._scripts.run(_APPEND, [self._index], args)
        return [i.decode() if isinstance(i, bytes) else str(i) for i in ids]

    async def open(self) -> None:
        await self._scripts.open([_APPEND, _READ, _RELEASE])

    async def close(self) -> None:
        await self._scripts.close()

    async def read(self, doc_id: str) -> list[Entry]:
        # Rooms are read as they open; fifty opening at once are read in one call.
        return await self._reading.ask(doc_id)

    async def _read(self, doc_ids: list[str]) -> list[list[Entry]]:
        found = await self._scripts.run(_READ, [self._stream(doc_id) for doc_id in doc_ids], [])
        return [_entries((entry_id, _fields(fields)) for entry_id, fields in entries) for entries in found]

    async def release(self, entries: dict[str, list[str]]) -> None:
        # Every document's entries in one script call (a flush releases all of its rooms'),
        # made straight on the scripts' connection like the appends.
        args: list[Argument] = [self._streams]
        for doc_id, entry_ids in entries.items():
            for start in range(0, len(entry_ids), _RELEASE_IDS):
                chunk = entry_ids[start : start + _RELEASE_IDS]
                if len(args) > 1 and len(args) + len(chunk) > _RELEASE_IDS:
                    await self._scripts.run(_RELEASE, [self._index], args)
                    args = [self._streams]
                args += [doc_id, len(chunk), *chunk]
        if len(args) > 1:
            await self._scripts.run(_RELEASE, [self._index], args)

    async def stale(self, older_than: float, *, limit: int = 100) -> dict[str, list[Entry]]:
        cutoff = time.time() - older_than
        found: dict[str, list[Entry]] = {}
        for raw in await self._redis.zrangebyscore(self._index, "-inf", cutoff, start=0, num=limit):
            doc_id = raw.decode() if isinstance(raw, bytes) else str(raw)
            # One sweeper per document at a time; the claim lapses by itself.
            if not await self._redis.set(
                f"{self._prefix}:journal-sweep:{doc_id}", b"1", nx=True, ex=max(1, int(older_than))
            ):
                continue
            entries = _entries(await self._redis.xrange(self._stream(doc_id), max=f"{int(cutoff * 1000)}"))
            if entries:
                found[doc_id] = entries
            else:  # what is left is younger (its writer is storing it): look again later
                oldest = await self._redis.xrange(self._stream(doc_id), count=1)
                if oldest:
                    await self._redis.zadd(self._index, {doc_id: _entry_time(oldest[0][0])}, xx=True)
                else:
                    await self._redis.zrem(self._index, doc_id)
        return found


def _fields(flat: list[bytes]) -> dict[bytes, bytes]:
    """A stream entry's fields as a script returns them: name, value, name, value..."""
    return dict(zip(flat[::2], flat[1::2], strict=True))


def _entry_time(entry_id: bytes | str) -> float:
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    return int(text.split("-")[0]) / 1000


def _entries(raw: Iterable[tuple[bytes | str, dict[bytes, bytes]]]) -> list[Entry]:
    out: list[Entry] = []
    for entry_id, fields in raw:
        author = fields.get(b"a", b"").decode()
        out.append((entry_id.decode() if isinstance(entry_id, bytes) else entry_id, fields[b"u"], author or None))
    return out


class MemoryJournal:
    """In-memory twin of RedisJournal (publishes through a MemoryBus client), for unit tests."""

    def __init__(self, bus: MemoryBusClient | None = None) -> None:
        self.entries: dict[str, list[tuple[float, Entry]]] = {}
        self.fail = False  # tests: the journal is unreachable
        self._bus = bus
        self._next = 0

    async def append(self, appends: list[Append]) -> list[str]:
        if self.fail:
            raise ConnectionError("journal unavailable")
        ids = []
        for a in appends:
            self._next += 1
            entry_id = f"{self._next}-0"
            self.entries.setdefault(a.doc_id, []).append((time.time(), (entry_id, a.update, a.author)))
            ids.append(entry_id)
            if a.channel is not None and self._bus is not None:
                await self._bus.publish(a.channel, a.header + a.update)
        return ids

    async def read(self, doc_id: str) -> list[Entry]:
        return [entry for _, entry in self.entries.get(doc_id, [])]

    async def release(self, entries: dict[str, list[str]]) -> None:
        for doc_id, entry_ids in entries.items():
            drop = set(entry_ids)
            kept = [(t, e) for t, e in self.entries.get(doc_id, []) if e[0] not in drop]
            if kept:
                self.entries[doc_id] = kept
            else:
                self.entries.pop(doc_id, None)

    async def stale(self, older_than: float, *, limit: int = 100) -> dict[str, list[Entry]]:
        cutoff = time.time() - older_than
        found = {doc: [e for t, e in items if t <= cutoff] for doc, items in self.entries.items()}
        return {doc: entries for doc, entries in list(found.items())[:limit] if entries}

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None
