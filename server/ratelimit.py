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
        """Count one hit; raise `TooManyRequests` with the seconds to wait once over `limit`."""
        key = self._keys.rate_limit(bucket, ident)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, window, nx=True)
            pipe.ttl(key)
            count, _, ttl = await pipe.execute()
        if count > limit:
            raise TooManyRequests(
                f"Too many {bucket.replace('-', ' ')} attempts. Try again in {max(ttl, 1)} seconds.",
                retry_after=max(int(ttl), 1),
            )

    async def reset(self, bucket: str, ident: str) -> None:
        await self._redis.delete(self._keys.rate_limit(bucket, ident))
