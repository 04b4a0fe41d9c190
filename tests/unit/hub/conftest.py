"""Fixtures of the hub tests that talk to one real redis-server directly."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from redis.asyncio import Redis

from tests.support.redis_server import RedisServer


@pytest.fixture(scope="module")
def server() -> Iterator[RedisServer]:
    with RedisServer() as redis:
        yield redis


@pytest.fixture
async def redis(server: RedisServer) -> AsyncIterator[Redis]:
    """A client of that server, flushed for each test."""
    client = Redis.from_url(server.url)
    await client.flushall()
    yield client
    await client.aclose()
