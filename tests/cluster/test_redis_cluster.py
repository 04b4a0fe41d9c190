"""Two tidings nodes on a 3-master Redis Cluster (docs/cluster.md): events, presence and
channel counts cross the nodes whichever master holds a channel's slot; a slot moved to
another master in the middle of traffic, and the subscription connections killed in the middle
of a burst (on one redis-server too), lose nothing and duplicate nothing; and with a replica
per master, the master of a busy channel SIGKILLed: its replica takes over, delivery resumes
within seconds, and no event answered 200 is lost."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pusher.errors
import pytest

from tests.cluster.conftest import presence_user, start_nodes
from tests.support.pusher_js import PusherJsDriver, unique, wait_until
from tests.support.raw_client import sdk_for
from tests.support.redis_cluster import RedisClusterSetup
from tests.support.redis_server import RedisServer
from tests.support.server import AppSpec, TidingsServer

APP = AppSpec(settings={"enable_client_events": True, "enable_subscription_count": True})
BURST = 1000
DELIVERY_TIMEOUT = 20.0  # a node that lost its subscription has this long to catch up
MOVE_PAUSE = 5.0  # at most this long between two steps of a slot move: a trigger may wait for it


@pytest.fixture(scope="module")
def nodes(redis_cluster: RedisClusterSetup) -> Iterator[list[TidingsServer]]:
    """Nodes A and B, both seeded with every master of the cluster."""
    started = start_nodes(redis_cluster, APP, count=2)
    yield started
    for node in started:
        node.stop()


@pytest.fixture(scope="module")
def nodes_on_one_redis(redis_server: RedisServer) -> Iterator[list[TidingsServer]]:
    started = start_nodes(redis_server, APP, count=2)
    yield started
    for node in started:
        node.stop()


def slot_of_channel(cluster: RedisClusterSetup, channel: str) -> int:
    """Where every key of ``channel`` lives: they share the hash tag ``{app_id:channel}``."""
    return cluster.slot_of(f"{APP.id}:{channel}")


def one_channel_per_master(cluster: RedisClusterSetup, prefix: str) -> list[str]:
    """Fresh channels named ``prefix-…`` whose slots are on three different masters."""
    found: dict[int, str] = {}
    while len(found) < len(cluster.ports):
        channel = unique(prefix)
        found.setdefault(cluster.owner(slot_of_channel(cluster, channel)), channel)
    return list(found.values())


# -- a: the cluster serves one app across nodes -------------------------------------------------
def test_an_event_triggered_on_node_a_reaches_pusher_js_on_node_b_on_every_master(
    nodes: list[TidingsServer], redis_cluster: RedisClusterSetup
) -> None:
    a, b = nodes
    channels = one_channel_per_master(redis_cluster, "news")
    with PusherJsDriver(b) as driver:
        reader = driver.client("reader")
        for channel in channels:
            reader.subscribe(channel)
        for number, channel in enumerate(channels):
            sdk_for(a).trigger(channel, "headline", {"number": number})
        for number, channel in enumerate(channels):
            assert reader.wait_for(channel, "headline").data == {"number": number}
        driver.sync(channels[0], reader)
        for channel in channels:  # once each, and nothing of the other channels
            assert len(reader.events(channel, "headline")) == 1


def test_presence_members_on_two_nodes_are_one_room(nodes: list[TidingsServer]) -> None:
    a, b = nodes
    room = unique("presence-standup")
    with PusherJsDriver(a) as on_a, PusherJsDriver(b) as on_b:
        ada = on_a.client("ada", presence=presence_user("ada", name="Ada"))
        assert ada.subscribe(room)["count"] == 1
        bob = on_b.client("bob", presence=presence_user("bob", name="Bob"))
        joined = bob.subscribe(room)

        assert joined["members"] == {"ada": {"name": "Ada"}, "bob": {"name": "Bob"}}
        added = ada.wait_for(room, "pusher:member_added")
        assert added.data == {"id": "bob", "info": {"name": "Bob"}}
        for node in (a, b):
            users = sdk_for(node).users_info(room)["users"]
            assert sorted(user["id"] for user in users) == ["ada", "bob"]
            info = sdk_for(node).channel_info(room, ["user_count", "subscription_count"])
            assert info == {"occupied": True, "user_count": 2, "subscription_count": 2}
        listed = sdk_for(a).channels_info("presence-", ["user_count"])["channels"]
        assert listed[room] == {"user_count": 2}

        bob.disconnect()
        removed = ada.wait_for(room, "pusher:member_removed")
        assert removed.data == {"id": "bob", "info": {"name": "Bob"}}
        assert ada.members(room)["members"] == {"ada": {"name": "Ada"}}
        users = sdk_for(b).users_info(room)["users"]
        assert [user["id"] for user in users] == ["ada"]


def test_channel_counts_from_either_node_add_up_both_nodes_on_every_master(
    nodes: list[TidingsServer], redis_cluster: RedisClusterSetup
) -> None:
    a, b = nodes
    prefix = unique("ticker")
    channels = one_channel_per_master(redis_cluster, prefix)
    with PusherJsDriver(a) as on_a, PusherJsDriver(b) as on_b:
        here, there, also = on_a.client("here"), on_b.client("there"), on_b.client("also")
        for channel in channels:
            here.subscribe(channel)
            there.subscribe(channel)
        also.subscribe(channels[0])

        expected = {channel: {"subscription_count": 2} for channel in channels}
        expected[channels[0]] = {"subscription_count": 3}
        for node in (a, b):
            assert sdk_for(node).channels_info(prefix, ["subscription_count"]) == {
                "channels": expected
            }
            info = sdk_for(node).channel_info(channels[0], ["subscription_count"])
            assert info == {"occupied": True, "subscription_count": 3}

        there.disconnect()
        also.disconnect()
        alone = {channel: {"subscription_count": 1} for channel in channels}

        def counts(node: TidingsServer) -> Any:
            return sdk_for(node).channels_info(prefix, ["subscription_count"])["channels"]

        wait_until(
            lambda: counts(a) == counts(b) == alone, "node B's subscribers leave every count"
        )


# -- b and c: disruptions in the middle of a burst ----------------------------------------------
@dataclass
class Triggers:
    """Triggers ``tick`` n = 0, 1, … on one channel through one node with the official SDK,
    one after the other as an app server sends them, and notes each answer."""

    node: TidingsServer
    channel: str
    accepted: list[int] = field(default_factory=list)
    refused: dict[int, str] = field(default_factory=dict)  # n -> the SDK's error
    unanswered: dict[int, str] = field(default_factory=dict)
    answered: int = 0
    _answer: threading.Condition = field(default_factory=threading.Condition)

    def trigger(self, sdk: pusher.Pusher, n: int) -> None:
        """Tick ``n``, and note its answer. The SDK gives up on a request after its
        ``timeout`` (5 s): a trigger that hangs ends up in ``unanswered``."""
        try:
            sdk.trigger(self.channel, "tick", {"n": n})
            self.accepted.append(n)
        except pusher.errors.PusherBadStatus as error:
            self.refused[n] = str(error)
        except Exception as error:  # a timeout, a dropped connection: no answer at all
            self.unanswered[n] = repr(error)
        with self._answer:
            self.answered += 1
            self._answer.notify_all()


@dataclass
class Burst(Triggers):
    """``count`` triggers; at ``hold`` it waits for ``resume``, so the disruption under test
    happens in the middle of the burst."""

    count: int = BURST
    hold: int = BURST // 2
    resume: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        sdk = sdk_for(self.node)
        for n in range(self.count):
            if n == self.hold:
                self.resume.wait(DELIVERY_TIMEOUT)
            self.trigger(sdk, n)

    def wait_for_answers(self, more: int, timeout: float) -> None:
        """Until ``more`` further triggers are answered (or the burst is holding)."""
        with self._answer:
            goal = min(self.answered + more, self.hold)
            self._answer.wait_for(lambda: self.answered >= goal, timeout)


def burst_through(
    burst: Burst, b: TidingsServer, seen: int, disrupt: Callable[[], Any]
) -> tuple[list[int], Any]:
    """A pusher-js client on node B subscribes to the burst's channel; the burst starts; once
    the client has seen ``seen`` ticks, ``disrupt()`` (the burst holds halfway until it
    returns). Then an ``end`` through the burst's node: everything before it has arrived once
    it does. Returns the ticks the client got, in order, and what ``disrupt`` returned."""
    channel = burst.channel
    with PusherJsDriver(b) as driver:
        browser = driver.client("browser")
        browser.subscribe(channel)
        sender = threading.Thread(target=burst.run, name="burst", daemon=True)
        sender.start()
        try:
            browser.wait_for(
                channel, "tick", where=lambda e: e.data["n"] >= seen - 1, timeout=DELIVERY_TIMEOUT
            )
            outcome = disrupt()
        finally:
            burst.resume.set()
            sender.join(60)
        assert not sender.is_alive(), "the burst did not finish"
        sdk_for(burst.node).trigger(channel, "end", {})
        browser.wait_for(channel, "end", timeout=DELIVERY_TIMEOUT)
        got = [event.data["n"] for event in browser.events(channel, "tick")]
    return got, outcome


def assert_every_200_delivered_once_in_order(burst: Triggers, got: list[int]) -> None:
    assert not burst.unanswered, f"triggers with no answer at all: {burst.unanswered}"
    assert all(error.startswith("503") for error in burst.refused.values()), burst.refused
    twice = sorted(n for n, times in Counter(got).items() if times > 1)
    assert not twice, f"delivered more than once: {twice}"
    assert got == sorted(got), "delivered out of order"
    lost = sorted(set(burst.accepted) - set(got))
    assert not lost, f"answered 200 but never delivered: {lost}"
    assert set(got) <= set(burst.accepted) | set(burst.refused), "delivered what nobody sent"


def test_a_slot_moved_to_another_master_during_traffic_loses_nothing(
    nodes: list[TidingsServer], redis_cluster: RedisClusterSetup
) -> None:
    """Resharding while a channel is busy: its keys (counts, stream) and its sharded pub/sub
    topic move to another master, one key at a time with triggers in between, so for a while
    the channel's keys are split over two masters."""
    a, b = nodes
    channel = unique("orders")
    slot = slot_of_channel(redis_cluster, channel)
    source = redis_cluster.owner(slot)
    target = next(port for port in redis_cluster.ports if port != source)
    burst = Burst(a, channel)

    def reshard() -> int:
        return redis_cluster.migrate_slot(
            slot, target, batch=1, between=lambda: burst.wait_for_answers(10, MOVE_PAUSE)
        )

    got, moved = burst_through(burst, b, 200, reshard)

    assert moved > 0, f"no key of {channel} was in slot {slot} (hash tag {{{APP.id}:{channel}}})"
    assert redis_cluster.owner(slot) == target
    assert_every_200_delivered_once_in_order(burst, got)
    accepted = set(burst.accepted)
    after = [n for n in range(burst.hold, BURST) if n not in accepted]
    assert not after, f"refused once the slot had moved: {after}"


def test_a_pubsub_kill_on_one_redis_server_mid_burst_loses_and_duplicates_nothing(
    nodes_on_one_redis: list[TidingsServer], redis_server: RedisServer
) -> None:
    a, b = nodes_on_one_redis
    burst = Burst(a, unique("scores"))  # an ordinary channel: no history kept

    got, killed = burst_through(burst, b, 300, redis_server.kill_pubsub_clients)

    assert killed >= 1, "CLIENT KILL TYPE pubsub found no subscription connection to drop"
    assert burst.accepted == list(range(BURST)), f"refused: {burst.refused or burst.unanswered}"
    assert_every_200_delivered_once_in_order(burst, got)
    assert got == list(range(BURST))


def test_a_pubsub_kill_on_the_master_owning_the_channel_mid_burst_loses_nothing(
    nodes: list[TidingsServer], redis_cluster: RedisClusterSetup
) -> None:
    """The master serving the channel's slot drops every sharded subscription it holds, node
    B's for this channel among them."""
    a, b = nodes
    burst = Burst(a, unique("scores"))  # an ordinary channel: no history kept
    owner = redis_cluster.owner(slot_of_channel(redis_cluster, burst.channel))

    got, killed = burst_through(burst, b, 300, lambda: redis_cluster.kill_pubsub_clients(owner))

    assert killed >= 1, "CLIENT KILL TYPE pubsub found no subscription connection to drop"
    assert burst.accepted == list(range(BURST)), f"refused: {burst.refused or burst.unanswered}"
    assert_every_200_delivered_once_in_order(burst, got)
    assert got == list(range(BURST))


# -- d: a shard's master dies -------------------------------------------------------------------
RESUME_WITHIN = 5.0  # seconds from the kill to an event triggered after the promotion delivered
PACE = 0.01  # seconds between two triggers of a stream
SEEN_BEFORE_KILL = 50  # ticks the listener has before the kill
AFTER_RESUMING = 50  # ticks sent after the promotion that the listener sees before it ends


@dataclass
class Stream(Triggers):
    """Triggers with no set end, at a steady pace, until ``stop``; ``started`` of them sent so
    far (tick ``started`` and later are sent from now on)."""

    stop: threading.Event = field(default_factory=threading.Event)
    started: int = 0

    def run(self) -> None:
        sdk = sdk_for(self.node)
        while not self.stop.is_set():
            self.started += 1
            self.trigger(sdk, self.started - 1)
            self.stop.wait(PACE)  # a steady pace, not a wait for anything


@pytest.fixture
def nodes_on_replicated_shards() -> Iterator[tuple[RedisClusterSetup, list[TidingsServer]]]:
    """A cluster of its own, 3 masters with a replica each (a kill uses it up), and nodes A and
    B. ``node_timeout`` at its default, 10 s, above the failover time as docs/cluster.md asks:
    heartbeat keys on the dead master's slots cannot be refreshed until its replica serves."""
    with RedisClusterSetup(replicas=1) as cluster:
        started = start_nodes(cluster, APP, count=2, node_timeout=10)
        yield cluster, started
        for node in started:
            node.stop()


def test_a_killed_master_hands_its_slots_to_its_replica_and_no_event_answered_200_is_lost(
    nodes_on_replicated_shards: tuple[RedisClusterSetup, list[TidingsServer]],
) -> None:
    """Node A triggers through its HTTP API all along; pusher-js on node B listens. The master
    serving the channel's slot is SIGKILLed; its replica is promoted once the other masters
    agree it failed (``cluster-node-timeout`` 1 s). Meanwhile node A can write nothing to that
    slot and must say so (503); node B's sharded subscription died with the master and moves to
    the new one, reading back from the channel's stream (replicated with it) what it missed.

    Not covered, and could still be lost: Redis replicates asynchronously, and a master answers
    a script before its replica has the write. An event the old master accepted in its last
    moment (answered 200) may be missing on the promoted replica, and so from the stream node B
    reads back: if node B had not received it from the old master either, it is lost; if it
    had, the new master gives its serial again to the next event, which node B skips as
    delivered unless it reads the stream before the new master gets that far (streams.py only
    notices a serial that went back). The window is the replication lag: Redis writes the
    reply, the SPUBLISH and the replication stream in the same event-loop turn, in no set
    order, so on loopback it is microseconds. This story would report such an event as lost
    rather than allow for it; it has not been seen to happen. (``WAIT`` is refused inside
    scripts, and one after each publish would cost a round trip to the replica per trigger.)"""
    cluster, (a, b) = nodes_on_replicated_shards
    channel = unique("orders")
    slot = slot_of_channel(cluster, channel)
    stream = Stream(a, channel)
    sender = threading.Thread(target=stream.run, name="stream", daemon=True)

    def past(n: int) -> Callable[[Any], bool]:
        return lambda event: bool(event.data["n"] >= n)

    with PusherJsDriver(b) as driver:
        browser = driver.client("browser")
        browser.subscribe(channel)
        sender.start()
        try:
            browser.wait_for(
                channel, "tick", where=past(SEEN_BEFORE_KILL), timeout=DELIVERY_TIMEOUT
            )
            old = cluster.kill_master_of(slot)
            killed_at = time.monotonic()
            new = cluster.wait_for_promotion(slot, old)
            promoted_after = time.monotonic() - killed_at
            first = stream.started  # sent once every surviving node had seen the promotion
            browser.wait_for(channel, "tick", where=past(first), timeout=DELIVERY_TIMEOUT)
            resumed_after = time.monotonic() - killed_at
            browser.wait_for(
                channel, "tick", where=past(first + AFTER_RESUMING), timeout=DELIVERY_TIMEOUT
            )
        finally:
            stream.stop.set()
            sender.join(30)
        assert not sender.is_alive(), "the stream of triggers did not stop"
        sdk_for(a).trigger(channel, "end", {})
        browser.wait_for(channel, "end", timeout=DELIVERY_TIMEOUT)
        got = [event.data["n"] for event in browser.events(channel, "tick")]

    print(  # shown when the story fails, and with -s
        f"killed {old}, promoted {new} after {promoted_after:.2f}s, delivery resumed after "
        f"{resumed_after:.2f}s; {len(stream.accepted)} accepted, {len(stream.refused)} refused "
        f"(ticks {min(stream.refused, default=None)}..{max(stream.refused, default=None)}), "
        f"{len(got)} delivered"
    )
    assert new in cluster.replicas[old]
    assert_every_200_delivered_once_in_order(stream, got)
    assert stream.refused, "nothing was refused: did any trigger fall between kill and promotion?"
    assert resumed_after < RESUME_WITHIN, f"delivery resumed {resumed_after:.1f}s after the kill"
