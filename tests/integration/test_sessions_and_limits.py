"""The session store and the rate limiter on their own, against the test Redis."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from server.accounts.sessions import SessionStore, session_digest
from server.errors import TooManyRequests
from server.keys import RedisKeys
from server.ratelimit import RateLimiter
from tests.support import ServiceUrls

pytestmark = pytest.mark.anyio


@pytest.fixture
async def redis(services: ServiceUrls) -> AsyncIterator[Redis]:
    client = Redis.from_url(services.redis_url)
    yield client
    await client.aclose()


@pytest.fixture
def keys(services: ServiceUrls) -> RedisKeys:
    return RedisKeys(f"{services.namespace}-{secrets.token_hex(4)}")


# --- sessions ---------------------------------------------------------------------------------


async def test_a_session_reads_back_and_redis_never_holds_its_id(redis: Redis, keys: RedisKeys) -> None:
    store = SessionStore(redis, keys, max_age=600)
    session_id, session = await store.create("user-1")
    assert await store.get(session_id) == session
    stored = [key.decode() async for key in redis.scan_iter(match=f"{keys.namespace}*")]
    assert stored and not any(session_id in key for key in stored)
    assert keys.session(session_digest(session_id)) in stored
    assert 0 < await redis.ttl(keys.session(session_digest(session_id))) <= 600


async def test_unknown_oversized_empty_and_corrupt_sessions_read_as_none(redis: Redis, keys: RedisKeys) -> None:
    store = SessionStore(redis, keys, max_age=600)
    session_id, _ = await store.create("user-1")
    assert await store.get("") is None
    assert await store.get("x" * 129) is None
    assert await store.get(session_id + "x") is None
    await redis.set(keys.session(session_digest(session_id)), b"{not json")
    assert await store.get(session_id) is None


async def test_signing_out_ends_one_session_and_tells_who_listens(redis: Redis, keys: RedisKeys) -> None:
    revoked: list[str] = []

    async def on_revoked(digest: str) -> None:
        revoked.append(digest)

    store = SessionStore(redis, keys, max_age=600, on_revoked=on_revoked)
    laptop, _ = await store.create("user-1")
    phone, _ = await store.create("user-1")
    await store.revoke(laptop)
    assert await store.get(laptop) is None and await store.get(phone) is not None
    assert revoked == [session_digest(laptop)]


async def test_revoking_all_of_a_users_sessions_spares_other_users(redis: Redis, keys: RedisKeys) -> None:
    revoked: list[str] = []

    async def on_revoked(digest: str) -> None:
        revoked.append(digest)

    store = SessionStore(redis, keys, max_age=600, on_revoked=on_revoked)
    mine = [(await store.create("user-1"))[0] for _ in range(3)]
    theirs, _ = await store.create("user-2")
    await store.revoke_all("user-1")
    assert [await store.get(s) for s in mine] == [None, None, None]
    assert await store.get(theirs) is not None
    assert sorted(revoked) == sorted(session_digest(s) for s in mine)
    await store.revoke_all("user-1")  # nothing left: a no-op, not an error


# --- rate limiter -----------------------------------------------------------------------------


async def test_hits_past_the_limit_are_refused_with_the_wait(redis: Redis, keys: RedisKeys) -> None:
    limiter = RateLimiter(redis, keys)
    for _ in range(3):
        await limiter.hit("login", "ada", limit=3, window=60)
    with pytest.raises(TooManyRequests) as refused:
        await limiter.hit("login", "ada", limit=3, window=60)
    assert "Too many login attempts" in str(refused.value.detail)
    assert 1 <= int(refused.value.headers()["Retry-After"]) <= 60
    # Other identities and other buckets count on their own.
    await limiter.hit("login", "bob", limit=3, window=60)
    await limiter.hit("signup", "ada", limit=3, window=60)
    await limiter.reset("login", "ada")
    await limiter.hit("login", "ada", limit=3, window=60)


async def test_concurrent_hits_never_let_more_than_the_limit_through(redis: Redis, keys: RedisKeys) -> None:
    limiter = RateLimiter(redis, keys)
    results = await asyncio.gather(
        *(limiter.hit("run-start", "ada", limit=10, window=60) for _ in range(60)), return_exceptions=True
    )
    assert sum(r is None for r in results) == 10
    assert all(isinstance(r, TooManyRequests) for r in results if r is not None)


async def test_a_new_window_starts_after_the_old_one_ends(redis: Redis, keys: RedisKeys) -> None:
    limiter = RateLimiter(redis, keys)
    await limiter.hit("login", "ada", limit=1, window=1)
    with pytest.raises(TooManyRequests):
        await limiter.hit("login", "ada", limit=1, window=1)
    for _ in range(40):  # the window's key expires within about a second; poll rather than assume when
        if await redis.exists(keys.rate_limit("login", "ada")) == 0:
            break
        await asyncio.sleep(0.1)
    await limiter.hit("login", "ada", limit=1, window=1)
