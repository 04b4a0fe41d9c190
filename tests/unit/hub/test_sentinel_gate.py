"""Sentinel's gated publish (hub/redis/sentinel.py) on a real redis-server: a batch goes out
only where every live node listens, else none of it does."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import ResponseError

from tidings.apps.history import HistoryRule
from tidings.hub.redis.publisher import Outbound
from tidings.hub.redis.sentinel import Gate
from tidings.hub.redis.state import Keys
from tidings.hub.redis.streams import event_args

KEYS = Keys("gate-test")
NEWS = b"gate-test:1:c:news"


async def listen(redis: Redis, *topics: bytes) -> PubSub:
    pubsub = redis.pubsub()
    await pubsub.subscribe(*topics)
    for _ in topics:
        assert (await pubsub.get_message(timeout=2))["type"] == "subscribe"
    return pubsub


async def received(pubsub: PubSub) -> bytes:
    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=2)
    assert message is not None, "nothing arrived"
    return bytes(message["data"])


async def register(redis: Redis, node: str, ttl_ms: int = 10_000) -> None:
    await redis.sadd(KEYS.nodes, node)
    await redis.set(KEYS.node(node), b"1", px=ttl_ms)


async def test_a_batch_waits_for_every_live_node_to_listen(redis: Redis) -> None:
    gate = Gate(redis, KEYS, node_timeout=10)
    reader = await listen(redis, NEWS)
    await gate.publish([Outbound(NEWS, b"alone")])  # no node registered: nobody to wait for
    assert await received(reader) == b"alone"

    await register(redis, "a1b2c3-2")  # a live node (generation 2) not listening yet
    with pytest.raises(ResponseError, match="node a1b2c3 is not subscribed"):
        await gate.publish([Outbound(NEWS, b"refused-1"), Outbound(NEWS, b"refused-2")])

    node = await listen(redis, KEYS.node_topic("a1b2c3"))  # its own topic, heard here
    await gate.publish([Outbound(NEWS, b"one"), Outbound(NEWS, b"two")])
    assert [await received(reader), await received(reader)] == [b"one", b"two"]  # none refused
    await node.aclose()
    await reader.aclose()


async def test_a_node_whose_key_expired_is_not_waited_for(redis: Redis) -> None:
    gate = Gate(redis, KEYS, node_timeout=10)
    reader = await listen(redis, NEWS)
    await register(redis, "dead00-1")
    await redis.delete(KEYS.node("dead00-1"))  # its heartbeat ran out: reaped soon
    await gate.publish([Outbound(NEWS, b"delivered")])
    assert await received(reader) == b"delivered"
    await reader.aclose()


async def test_a_node_that_stopped_beating_is_not_waited_for_on_a_settled_master(
    redis: Redis,
) -> None:
    gate = Gate(redis, KEYS, node_timeout=10)  # beats every second: three missed is 3 s
    reader = await listen(redis, NEWS)
    await register(redis, "beats0-1", ttl_ms=9_950)  # beat 50 ms ago, not listening
    await register(redis, "silent-1", ttl_ms=5_000)  # last beat 5 s ago: crashed
    # A new master waits for every node whose key lives: nobody could beat there yet.
    with pytest.raises(ResponseError, match=r"node (beats0|silent) is not subscribed"):
        await gate.publish([Outbound(NEWS, b"refused")])

    # This master has served longer than node_timeout: the silent node is given up on, the
    # beating one is still waited for until it listens.
    info = await redis.info("replication")
    await redis.set(f"{KEYS.prefix}:master-since:{info['master_replid']}", 0)
    with pytest.raises(ResponseError, match="node beats0 is not subscribed"):
        await gate.publish([Outbound(NEWS, b"refused")])
    node = await listen(redis, KEYS.node_topic("beats0"))
    await gate.publish([Outbound(NEWS, b"delivered")])
    assert await received(reader) == b"delivered"
    await node.aclose()
    await reader.aclose()


async def test_a_channel_event_in_a_batch_gets_its_serial_and_a_place_in_the_stream(
    redis: Redis,
) -> None:
    gate = Gate(redis, KEYS, node_timeout=10)
    topic, keys = KEYS.channel_topic("1", "news"), KEYS.stream("1", "news")
    reader = await listen(redis, topic)
    rule = HistoryRule("*", max_events=10, ttl=60)
    for n in (1, 2):
        fields = event_args(rule, b'{"event":"e","data":"%d"}' % n, None, splice=False)
        await gate.publish([Outbound(topic, fields=fields, keys=keys)])
    first, second = await received(reader), await received(reader)
    assert first.startswith(b"h\n1 ") and first.endswith(b'\n{"event":"e","data":"1"}')
    assert second.startswith(b"h\n2 ")
    assert [entry_id for entry_id, _ in await redis.xrange(keys[0])] == [b"1-0", b"2-0"]
    await reader.aclose()
