"""Lua scripts on hot paths, called on a Redis connection of their own.

Every edit (the journal's append) and every socket that joins (the connection caps) runs a
script in Redis. Through the client's command layer — pool checkout, retry wrapper, response
callbacks — a call costs about four times the CPU of the same call made straight on a
connection (a PING: ~100 µs against ~30 µs here), more than Redis takes to run the script. So
these calls go straight to one connection, made by the client's pool with its settings, one
call at a time. A script is sent by its hash; a fresh (or flushed) Redis gets its text once.
A failed or cancelled call drops the connection (it may hold half a reply); the next call
opens another.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import NoScriptError

Argument = bytes | str | int | float


class Script:
    """A Lua script's text and the hash Redis knows it by."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()


class ScriptConnection:
    """Runs scripts on one connection of its own; calls wait for each other."""

    def __init__(self, redis: Redis) -> None:
        self._pool = redis.connection_pool
        self._connection: AbstractConnection | None = None
        self._calling = asyncio.Lock()

    async def run(self, script: Script, keys: Sequence[Argument], args: Sequence[Argument]) -> Any:
        async with self._calling:
            try:
                return await self._call("EVALSHA", script.sha, len(keys), *keys, *args)
            except NoScriptError:
                return await self._call("EVAL", script.source, len(keys), *keys, *args)

    async def open(self, scripts: Sequence[Script]) -> None:
        """Connect and load `scripts` now, so that the first calls (a burst of sockets joining a
        process that just started) pay neither. Raises when Redis cannot be reached."""
        async with self._calling:
            for script in scripts:
                await self._call("SCRIPT", "LOAD", script.source)

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.disconnect()
            self._connection = None

    async def _call(self, *command: Argument) -> Any:
        if self._connection is None:
            self._connection = self._pool.make_connection()  # type: ignore[no-untyped-call]
        connection = self._connection
        # Both calls drop the connection on any failure or cancellation (the next one reconnects).
        await connection.send_packed_command(connection.pack_command(*command), check_health=False)
        return await connection.read_response()
