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
    await dead.stop()
    await redis.aclose()


async def test_a_burst_of_joins_asks_redis_in_one_call_on_one_connection(services: ServiceUrls) -> None:
    redis = Redis.from_url(services.redis_url, client_name="limits-burst")
    keys = RedisKeys(f"{services.namespace}:limits-burst")
    limits = ConnectionLimits(redis, keys, per_user=40, per_workflow=25)
    verdicts = await asyncio.gather(*(limits.acquire(f"u{i % 2}", "w", f"s{i}") for i in range(30)))
    assert verdicts.count(None) == 25 and verdicts.count(Refusal.WORKFLOW) == 5
    clients = [line for line in (await redis.client_list()) if line["name"] == "limits-burst"]
    assert len(clients) == 2  # the scripts' connection and this CLIENT LIST's, not one per socket
    assert sum(int(line["cmd"] in ("evalsha", "eval")) for line in clients) == 1
    await limits.stop()
    assert await redis.zcard(keys.connections_of_workflow("w")) == 0
    await redis.aclose()


async def test_sockets_are_let_in_when_redis_cannot_be_reached() -> None:
    redis = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    limits = ConnectionLimits(redis, RedisKeys("unreachable"), per_user=1, per_workflow=1)
    verdicts = await asyncio.gather(*(limits.acquire("u", "w", f"s{i}") for i in range(5)))
    assert verdicts == [None] * 5
    await limits.stop()
    await redis.aclose()
