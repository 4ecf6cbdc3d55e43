"""Fixed-window rate limits kept in Redis, shared by every web process."""

from __future__ import annotations

from redis.asyncio import Redis

from server.errors import TooManyRequests
from server.keys import RedisKeys


class RateLimiter:
    """Counts hits per (bucket, identity) in windows of `window` seconds."""

    def __init__(self, redis: Redis, keys: RedisKeys) -> None:
        self._redis = redis
        self._keys = keys

    async def hit(self, bucket: str, ident: str, *, limit: int, window: int) -> None:
        """Count one hit and judge it in the same atomic step; raise `TooManyRequests` with the
        seconds to wait once over `limit`."""
        count, ttl = await self.record(bucket, ident, window=window)
        if count > limit:
            raise self._refusal(bucket, ttl)

    async def record(self, bucket: str, ident: str, *, window: int) -> tuple[int, int]:
        """Count one hit without judging it; return the count in this window and its seconds left."""
        key = self._keys.rate_limit(bucket, ident)
        async with self._redis.pipeline(transaction=True) as pipe:
            # SET NX EX starts the window atomically (EXPIRE NX needs Redis 7; we support 6.2).
            pipe.set(key, 0, ex=window, nx=True)
            pipe.incr(key)
            pipe.ttl(key)
            _, count, ttl = await pipe.execute()
        return int(count), int(ttl)

    @staticmethod
    def _refusal(bucket: str, ttl: int) -> TooManyRequests:
        wait = max(ttl, 1)
        return TooManyRequests(
            f"Too many {bucket.replace('-', ' ')} attempts. Try again in {wait} seconds.", retry_after=wait
        )

    async def reset(self, bucket: str, ident: str) -> None:
        await self._redis.delete(self._keys.rate_limit(bucket, ident))
