"""Reads of the cluster's shared state, for the HTTP API: counts, members and the cache.

Every read needs Redis (a node alone cannot know the cluster's counts), so each one fails with
``HubUnavailable`` when Redis is out of reach.
"""

from __future__ import annotations

from typing import Any

import orjson
from redis.asyncio import Redis

from tidings.hub.base import ChannelStats
from tidings.hub.redis.state import Keys, text
from tidings.protocol.channels import is_presence
from tidings.redis_client import required


class SharedReads:
    def __init__(self, redis: Redis, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys

    async def channels(self, app_id: str) -> dict[str, ChannelStats]:
        return await required(self._channels(self._keys.app(app_id)))

    async def _channels(self, base: str) -> dict[str, ChannelStats]:
        subs = await self._redis.hgetall(f"{base}subs")
        counts = {text(name): int(count) for name, count in subs.items()}
        presence = [name for name in counts if is_presence(name)]
        users: dict[str, int] = {}
        if presence:
            async with self._redis.pipeline(transaction=False) as pipe:
                for name in presence:
                    pipe.hlen(f"{base}pu:{name}")
                users = dict(zip(presence, await pipe.execute(), strict=True))
        return {
            name: ChannelStats(count, users.get(name))
            for name, count in counts.items()
            if count > 0
        }

    async def channel(self, app_id: str, channel: str) -> ChannelStats:
        return await required(self._channel(self._keys.app(app_id), channel))

    async def _channel(self, base: str, channel: str) -> ChannelStats:
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hget(f"{base}subs", channel)
            pipe.hlen(f"{base}pu:{channel}")
            count, users = await pipe.execute()
        return ChannelStats(max(0, int(count or 0)), int(users) if is_presence(channel) else None)

    async def members(self, app_id: str, channel: str) -> dict[str, Any]:
        found = await required(self._redis.hgetall(f"{self._keys.app(app_id)}pi:{channel}"))
        return {text(user): orjson.loads(info) for user, info in found.items()}

    async def cache_get(self, app_id: str, channel: str) -> tuple[bytes, float] | None:
        payload, ttl = await required(self._cache_get(self._keys.cache(app_id, channel)))
        if payload is None or ttl <= 0:
            return None
        return payload, ttl / 1000

    async def _cache_get(self, key: str) -> tuple[bytes | None, int]:
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.get(key)
            pipe.pttl(key)
            payload, ttl = await pipe.execute()
        return payload, int(ttl)
