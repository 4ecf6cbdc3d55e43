"""Connection slots on a real Redis: taken atomically, renewed while open, lapsing after a crash."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis

from server.connection_limits import ConnectionLimits, Refusal
from server.keys import RedisKeys
from tests.support import ServiceUrls

pytestmark = pytest.mark.anyio


async def test_simultaneous_sockets_never_exceed_the_cap(services: ServiceUrls) -> None:
    redis = Redis.from_url(services.redis_url)
    keys = RedisKeys(f"{services.namespace}:limits-race")
    processes = [ConnectionLimits(redis, keys, per_user=5, per_workflow=100) for _ in range(3)]
    verdicts = await asyncio.gather(
        *(processes[i % 3].acquire("u", f"w{i}", f"s{i}") for i in range(30))  # 30 at once, 3 "processes"
    )
    assert verdicts.count(None) == 5 and verdicts.count(Refusal.USER) == 25
    for process in processes:
        await process.stop()
    await redis.aclose()


async def test_a_dead_process_frees_its_slots_and_a_live_one_keeps_them(services: ServiceUrls) -> None:
    redis = Redis.from_url(services.redis_url)
    keys = RedisKeys(f"{services.namespace}:limits-lapse")
    dead = ConnectionLimits(redis, keys, per_user=1, per_workflow=10, ttl=1.0)
    live = ConnectionLimits(redis, keys, per_user=1, per_workflow=10, ttl=1.0)
    assert await dead.acquire("u1", "w", "a") is None  # and the process dies: nothing renews it
    assert await live.acquire("u1", "w", "b") == Refusal.USER
    assert await live.acquire("u2", "w", "c") is None
    await live.start()  # renews every third of a second
    await asyncio.sleep(1.5)
    assert await live.acquire("u1", "w", "d") is None  # the dead one's claim lapsed
    assert await dead.acquire("u2", "w", "e") == Refusal.USER  # the live one's did not
    await live.stop()
    await redis.aclose()
