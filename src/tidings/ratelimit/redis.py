"""Cluster-wide rate limits: the same one-second windows as the memory driver, kept in Redis."""

from __future__ import annotations

import time
from collections.abc import Callable

from tidings.ratelimit.base import Decision
from tidings.redis_client import Client, required

# KEYS[1] the window's counter; ARGV points, limit. Refused points are not counted, as in memory.
CONSUME = """
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local points, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
if used + points > limit then return {0, used} end
used = redis.call('INCRBY', KEYS[1], points)
if used == points then redis.call('PEXPIRE', KEYS[1], 2000) end
return {1, used}
"""


class RedisRateLimiter:
    def __init__(self, redis: Client, prefix: str, clock: Callable[[], float] = time.time) -> None:
        self._script = redis.register_script(CONSUME)
        self._prefix = prefix
        self._clock = clock  # wall clock: every node must agree on which second it is

    async def consume(self, key: str, points: int, per_second: int) -> Decision:
        now = self._clock()
        second = int(now)
        allowed, used = await required(
            self._script(keys=[f"{self._prefix}:rl:{key}:{second}"], args=[points, per_second])
        )
        retry = (second + 1) - now
        return Decision(bool(allowed), per_second, max(0, per_second - int(used)), retry)
