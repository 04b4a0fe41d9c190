"""The Redis client every Redis driver shares, and what counts as "Redis failed"."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, TypeVar

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool
from redis.backoff import NoBackoff
from redis.exceptions import (
    ClusterDownError,
    RedisClusterException,
    RedisError,
    SlotNotCoveredError,
)
from redis.exceptions import ConnectionError as RedisConnectionError

from tidings.config import ServerSettings
from tidings.metrics.figures import redis_round_trip_errors
from tidings.redis_settings import CLUSTER_SCHEMES, address, cluster_seeds
from tidings.unavailable import HubUnavailable

T = TypeVar("T")

# A Redis that is down, restarting, cut off or too slow: redis-py raises its own errors, the
# socket layer OSError, and its timeouts TimeoutError.
FAILURES = (RedisError, RedisClusterException, OSError, TimeoutError)

# One Redis (alone or behind Sentinel), or a Redis Cluster: the calls tidings makes are the same.
Client = Redis | RedisCluster


class BoundedCluster(RedisCluster):
    """redis-py's cluster client less two of its habits. Past a node's connection limit a call
    fails there ("Too many connections") where the single-Redis pool waits: here calls wait
    for one of ``concurrency`` places instead. And a call that timed out is retried, which
    would run a script twice (a JOIN counted twice): here only a broken connection is."""

    # A narrower tuple than the base declares: that is the point.
    ERRORS_ALLOW_RETRY = (RedisConnectionError, ClusterDownError, SlotNotCoveredError)  # type: ignore[assignment]

    def __init__(self, *args: Any, concurrency: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._places = asyncio.Semaphore(concurrency)

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        async with self._places:
            return await super().execute_command(*args, **kwargs)


class SentinelPool(SentinelConnectionPool, BlockingConnectionPool):
    """Connections to whichever server the sentinels name as master (asked at each connect),
    from a pool that blocks when full, as for one Redis."""


def connect(settings: ServerSettings) -> Client:
    """A client whose every call fails within about ``redis_timeout`` instead of retrying for
    long. One retry on a broken connection, since pooled connections all break when Redis
    restarts; none on a timeout, which may hide a script that did run."""
    # A blocking pool: a burst of calls waits for a free connection (boundedly) instead of
    # failing with "too many connections" and sending the node into re-registration.
    bounds: dict[str, Any] = {
        "socket_timeout": settings.redis_timeout,
        "socket_connect_timeout": settings.redis_timeout,
        "retry": Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
    }
    if settings.redis_url.startswith(CLUSTER_SCHEMES):
        # Any seed that answers tells the whole slot map; a MOVED reply updates it. Calls
        # wait for 64 places, so no node ever sees more (pipelines take a few besides).
        return BoundedCluster(
            startup_nodes=[
                ClusterNode(host, port) for host, port in cluster_seeds(settings.redis_url)
            ],
            ssl=settings.redis_url.startswith("rediss+"),
            max_connections=96,
            concurrency=64,
            **bounds,
        )
    if settings.redis_sentinels:
        # The sentinels' own clients get the same bounds; a dead sentinel is skipped.
        sentinel = Sentinel(  # type: ignore[no-untyped-call]
            [address(entry) for entry in settings.redis_sentinels],
            sentinel_kwargs=dict(bounds),
        )
        client: Redis = sentinel.master_for(
            settings.redis_sentinel_master,
            connection_pool_class=SentinelPool,
            max_connections=64,
            timeout=settings.redis_timeout,
            **bounds,
        )
        return client
    pool = BlockingConnectionPool.from_url(
        settings.redis_url, max_connections=64, timeout=settings.redis_timeout, **bounds
    )
    return Redis(connection_pool=pool)


async def required(call: Awaitable[T]) -> T:
    """A call that only makes sense with Redis: its failure becomes ``HubUnavailable``."""
    try:
        return await call
    except FAILURES as error:
        redis_round_trip_errors.note()
        raise HubUnavailable(f"Redis is unreachable ({error}); retry shortly") from None
