"""The node's pub/sub connection (hub/redis/topics.py) against a real redis-server."""

from __future__ import annotations

import asyncio
import sys

from redis.asyncio import Redis

from tests.support.apps import soon
from tidings.hub.redis.topics import Topics


def by_the_loop() -> bool:
    """Whether the hook is called by Topics' own loop, about to subscribe a fresh connection."""
    return sys._getframe(2).f_code.co_name == "_run"


async def started(tasks: list[asyncio.Task[None]]) -> bool:
    return bool(tasks)


async def subscribers(redis: Redis, topic: bytes, count: int) -> bool:
    return bool((await redis.pubsub_numsub(topic))[0][1] == count)


async def test_a_topic_wanted_while_a_fresh_connection_subscribes_is_heard(redis: Redis) -> None:
    heard: asyncio.Queue[tuple[bytes, bytes]] = asyncio.Queue()
    wants: list[asyncio.Task[None]] = []

    def reconnecting() -> None:
        # Told by the loop just before the fresh connection's SUBSCRIBE (redis-py's own
        # reconnects tell it too, earlier): this want runs while that SUBSCRIBE is sent.
        if by_the_loop() and not wants:
            wants.append(asyncio.ensure_future(topics.want(b"late")))

    topics = Topics(
        redis, b"home", lambda t, d: heard.put_nowait((t, d)), 5.0, on_reconnect=reconnecting
    )
    topics.start()
    try:
        await topics.want(b"early")
        topics.reconnect()
        await soon(lambda: started(wants), "the loop's reconnect")
        await asyncio.wait_for(wants[0], 4.0)  # returns once Redis confirmed the SUBSCRIBE
        assert await redis.publish(b"late", b"hello") == 1
        assert await asyncio.wait_for(heard.get(), 5.0) == (b"late", b"hello")
    finally:
        await topics.close()


async def test_a_topic_dropped_while_a_fresh_connection_subscribes_is_unsubscribed(
    redis: Redis,
) -> None:
    drops: list[asyncio.Task[None]] = []

    def reconnecting() -> None:
        if by_the_loop() and not drops:
            drops.append(asyncio.ensure_future(topics.drop(b"gone")))

    topics = Topics(redis, b"home", lambda t, d: None, 5.0, on_reconnect=reconnecting)
    topics.start()
    try:
        await topics.want(b"gone")
        topics.reconnect()
        await soon(lambda: started(drops), "the loop's reconnect")
        await drops[0]
        await asyncio.wait_for(topics.connected.wait(), 5.0)
        # Our connection is the only subscriber there is: once it is on "home" (the last of
        # its first SUBSCRIBE), "gone" must be left as well.
        await soon(lambda: subscribers(redis, b"home", 1), "home subscribed")
        await soon(lambda: subscribers(redis, b"gone", 0), "gone unsubscribed")
    finally:
        await topics.close()
