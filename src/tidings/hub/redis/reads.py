"""Reads of the cluster's shared state, for the HTTP API: counts, members and the cache.

Every read needs Redis (a node alone cannot know the cluster's counts), so each one fails with
``HubUnavailable`` when Redis is out of reach.
"""

from __future__ import annotations

from typing import Any

import orjson

from tidings.hub.base import ChannelStats
from tidings.hub.redis.state import Keys, text
from tidings.protocol.channels import is_presence
from tidings.redis_client import Client, required


class SharedReads:
    def __init__(self, redis: Client, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys

    async def channels(self, app_id: str) -> dict[str, ChannelStats]:
        return await required(self._channels(app_id))

    async def _channels(self, app_id: str) -> dict[str, ChannelStats]:
        """The union of every node's channel set, each channel's count read from its own
        keys (on a cluster, from the shard that holds it)."""
        keys = self._keys
        nodes = [text(node) for node in await self._redis.smembers(keys.nodes)]
        names: set[str] = set()
        if nodes:
            async with self._redis.pipeline(transaction=False) as pipe:
                for node in nodes:
                    pipe.smembers(keys.node_channels(app_id, node))
                for held in await pipe.execute():
                    names.update(text(name) for name in held)
        if not names:
            return {}
        ordered = sorted(names)
        async with self._redis.pipeline(transaction=False) as pipe:
            for name in ordered:
                base = keys.channel(app_id, name)
                pipe.hget(f"{base}n", "#")
                if is_presence(name):
                    pipe.hlen(f"{base}pu")
            answers = iter(await pipe.execute())
        result = {}
        for name in ordered:
            count = int(next(answers) or 0)
            users = int(next(answers)) if is_presence(name) else None
            if count > 0:
                result[name] = ChannelStats(count, users)
        return result

    async def channel(self, app_id: str, channel: str) -> ChannelStats:
        return await required(self._channel(self._keys.channel(app_id, channel), channel))

    async def _channel(self, base: str, channel: str) -> ChannelStats:
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hget(f"{base}n", "#")
            pipe.hlen(f"{base}pu")
            count, users = await pipe.execute()
        return ChannelStats(max(0, int(count or 0)), int(users) if is_presence(channel) else None)

    async def members(self, app_id: str, channel: str) -> dict[str, Any]:
        found = await required(self._redis.hgetall(f"{self._keys.channel(app_id, channel)}pi"))
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
