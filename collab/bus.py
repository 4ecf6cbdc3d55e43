"""The pub/sub bus between web processes (Redis, or in memory for tests).

Redis pub/sub delivers at most once and forgets subscriptions when the connection drops, so
`RedisBus` reconnects with back-off, subscribes again, and then calls `on_reconnect` so that
rooms can run an anti-entropy round for whatever was lost meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger(__name__)

Handler = Callable[[bytes], None]


class Bus(Protocol):
    """Publish/subscribe between the processes serving the same documents."""

    async def subscribe(self, channel: str, handler: Handler) -> None:
        """Deliver every later message on `channel` to `handler` (called on the event loop)."""
        ...

    async def unsubscribe(self, channel: str) -> None: ...

    async def publish(self, channel: str, message: bytes) -> None:
        """Send `message` to every subscriber of `channel`, this process included."""
        ...


class MemoryBus:
    """In-process twin of RedisBus: several hubs on one MemoryBus behave like several processes."""

    def __init__(self) -> None:
        self.subscribers: dict[str, list[Handler]] = {}
        self.drop_next = 0  # tests: lose this many messages, as Redis may

    def attach(self) -> MemoryBusClient:
        return MemoryBusClient(self)

    def deliver(self, channel: str, message: bytes) -> None:
        if self.drop_next:
            self.drop_next -= 1
            return
        for handler in list(self.subscribers.get(channel, [])):
            handler(message)


class MemoryBusClient:
    def __init__(self, bus: MemoryBus) -> None:
        self._bus = bus
        self._handlers: dict[str, Handler] = {}

    async def subscribe(self, channel: str, handler: Handler) -> None:
        await self.unsubscribe(channel)
        self._handlers[channel] = handler
        self._bus.subscribers.setdefault(channel, []).append(handler)

    async def unsubscribe(self, channel: str) -> None:
        handler = self._handlers.pop(channel, None)
        if handler is not None:
            self._bus.subscribers[channel].remove(handler)

    async def publish(self, channel: str, message: bytes) -> None:
        self._bus.deliver(channel, message)


class RedisBus:
    """One pub/sub connection per process, shared by every room and run-event relay."""

    def __init__(self, redis: Redis, *, on_reconnect: Callable[[], Awaitable[None]] | None = None) -> None:
        self._redis = redis
        self._handlers: dict[str, Handler] = {}
        self._pubsub = redis.pubsub(ignore_subscribe_messages=True)
        self._reader: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()
        # One (un)subscribe at a time: redis-py's PubSub opens its connection lazily, and
        # concurrent first subscribes would each open one and keep only the last, leaving the
        # channels subscribed on the others deaf.
        self._subscribing = asyncio.Lock()
        self.on_reconnect = on_reconnect
        self.connected = False

    async def start(self) -> None:
        self._reader = asyncio.create_task(self._read_forever(), name="redis-bus-reader")

    async def stop(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        with contextlib.suppress(Exception):
            await self._pubsub.aclose()  # type: ignore[no-untyped-call]

    async def subscribe(self, channel: str, handler: Handler) -> None:
        if channel in self._handlers:  # subscribed already (or to be, on reconnect): a new handler
            self._handlers[channel] = handler
            return
        self._handlers[channel] = handler
        async with self._subscribing:
            try:
                await self._pubsub.subscribe(channel)
            except (RedisConnectionError, RedisTimeoutError, OSError):
                log.warning("redis_subscribe_deferred", extra={"channel": channel})  # resubscribed on reconnect
        self._changed.set()

    async def unsubscribe(self, channel: str) -> None:
        self._handlers.pop(channel, None)
        async with self._subscribing:
            with contextlib.suppress(RedisConnectionError, RedisTimeoutError, OSError):
                await self._pubsub.unsubscribe(channel)

    async def publish(self, channel: str, message: bytes) -> None:
        try:
            await self._redis.publish(channel, message)
        except (RedisConnectionError, RedisTimeoutError, OSError):
            # At most once, like pub/sub itself: anti-entropy repairs it after the reconnect.
            log.warning("redis_publish_failed", extra={"channel": channel})

    async def _read_forever(self) -> None:
        delay = 0.1
        broken = False
        while True:
            try:
                if broken:
                    await self._resubscribe()
                    broken, delay = False, 0.1
                    if self.on_reconnect is not None:
                        await self._run_hook(self.on_reconnect)
                if not self._pubsub.subscribed:
                    await self._changed.wait()
                    self._changed.clear()
                    continue
                message = await self._pubsub.get_message(timeout=1.0)
                self.connected = True
                if message is None or message.get("type") != "message":
                    continue
                channel = message["channel"]
                handler = self._handlers.get(channel.decode() if isinstance(channel, bytes) else channel)
                if handler is not None:
                    try:
                        handler(message["data"])
                    except Exception:
                        log.exception("bus_handler_failed")
            except asyncio.CancelledError:
                raise
            except (RedisConnectionError, RedisTimeoutError, OSError):
                self.connected, broken = False, True
                log.warning("redis_bus_disconnected; retrying in %.1fs", delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

    async def _resubscribe(self) -> None:
        """A fresh pub/sub connection with every current subscription; raises while Redis is down."""
        async with self._subscribing:
            with contextlib.suppress(Exception):
                await self._pubsub.aclose()  # type: ignore[no-untyped-call]
            self._pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            if self._handlers:
                await self._pubsub.subscribe(*self._handlers)
        self.connected = True

    @staticmethod
    async def _run_hook(hook: Callable[[], Awaitable[None]]) -> None:
        try:
            await hook()
        except Exception:
            log.exception("bus_reconnect_hook_failed")
