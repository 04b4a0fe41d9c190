"""How a node reads back what it missed from a channel's stream (hub/redis/streams.py), on a
real redis-server: the channel's serials come from the same script tidings publishes with,
and what reaches the node's sockets is checked frame by frame."""

from __future__ import annotations

from redis.asyncio import Redis

from tests.unit.hub.contract_support import Socket, until
from tidings.apps import App
from tidings.apps.history import HistoryRule
from tidings.hub.local import LocalSockets
from tidings.hub.redis.state import Keys
from tidings.hub.redis.streams import PUBLISH_ONE, SEQUENCED, ChannelStreams, event_args
from tidings.protocol import messages

APP = App(id="1", key="key-1", secret="secret")
CHANNEL = "orders"
KEYS = Keys("streams-test")
RULE = HistoryRule("*", max_events=100, ttl=60)
TOPIC = KEYS.channel_topic(APP.id, CHANNEL)


class Node:
    """One node's streams and a local socket on the channel; ``hear`` hands it a message as
    its pub/sub connection would."""

    def __init__(self, redis: Redis) -> None:
        self.local = LocalSockets()
        self.socket = Socket(APP)
        self.local.join(APP.id, CHANNEL, self.socket)
        self.streams = ChannelStreams(redis, KEYS, self.local)

    def hear(self, message: bytes) -> None:
        origin, arg, payload = message.split(b"\n", 2)
        assert origin == SEQUENCED
        self.streams.received(TOPIC, APP.id, CHANNEL, arg, payload)

    def numbers(self) -> list[int]:
        return [int(m.data["n"]) for m in self.socket.messages()]


async def publish(redis: Redis, n: int, payload: bytes | None = None) -> bytes:
    """Sequence one event as tidings does; returns the message its topic carried."""
    reader = redis.pubsub()
    await reader.subscribe(TOPIC)
    await reader.get_message(timeout=2)  # the subscribe confirmation
    body = payload or messages.event("order", CHANNEL, f'{{"n":{n}}}')
    fields = event_args(RULE, body, None, splice=False)
    script = redis.register_script(PUBLISH_ONE)
    await script(keys=KEYS.stream(APP.id, CHANNEL), args=[TOPIC, *fields, "e1", "PUBLISH"])
    message = await reader.get_message(ignore_subscribe_messages=True, timeout=2)
    await reader.aclose()
    assert message is not None
    return bytes(message["data"])


async def test_a_serial_out_of_turn_makes_the_node_read_the_gap_first(redis: Redis) -> None:
    node = Node(redis)
    await node.streams.track(TOPIC, APP.id, CHANNEL)
    first, _missed, third = [await publish(redis, n) for n in (1, 2, 3)]
    node.hear(first)
    node.hear(third)  # the second never came through pub/sub
    await until(lambda: len(node.socket.frames) == 3)
    assert node.numbers() == [1, 2, 3]


async def test_after_a_reconnect_the_node_delivers_what_it_missed_then_what_it_held_once(
    redis: Redis,
) -> None:
    node = Node(redis)
    await node.streams.track(TOPIC, APP.id, CHANNEL)
    node.hear(await publish(redis, 1))
    node.streams.reconnecting()
    missed = [await publish(redis, n) for n in (2, 3)]
    node.hear(missed[1])  # heard again after the resubscription: held, then not doubled
    node.hear(await publish(redis, 4))
    node.streams.confirmed(TOPIC)
    await until(lambda: len(node.socket.frames) == 4)
    assert node.numbers() == [1, 2, 3, 4]


async def test_serials_reused_by_a_promoted_replica_are_delivered_not_taken_as_seen(
    redis: Redis,
) -> None:
    node = Node(redis)
    await node.streams.track(TOPIC, APP.id, CHANNEL)
    for n in (1, 2, 3):
        node.hear(await publish(redis, n))
    # A failover lost serials 2 and 3 (never replicated): the new master stands at 1 and
    # gives serial 2 to the next event, which the node misses while it moves.
    stream, meta = KEYS.stream(APP.id, CHANNEL)
    await redis.xdel(stream, "2-0", "3-0")
    await redis.execute_command("XSETID", stream, "1-0")  # as the replica's stream stands
    await redis.hset(meta, "s", 1)
    await publish(redis, 20)
    node.streams.reconnecting()
    node.streams.confirmed(TOPIC)
    await until(lambda: len(node.socket.frames) == 4)
    assert node.numbers() == [1, 2, 3, 20]
    node.hear(await publish(redis, 30))  # serial 3 again: news, not a repeat
    await until(lambda: len(node.socket.frames) == 5)
    assert node.numbers() == [1, 2, 3, 20, 30]
