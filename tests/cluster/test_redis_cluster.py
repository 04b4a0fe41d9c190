"""Two tidings nodes on a 3-master Redis Cluster (docs/cluster.md): events, presence and
channel counts cross the nodes whichever master holds a channel's slot; a slot moved to
another master in the middle of traffic, and the subscription connections killed in the middle
of a burst (on one redis-server too), lose nothing and duplicate nothing."""

from __future__ import annotations

import threading
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
class Burst:
    """Triggers ``tick`` n = 0 … count-1 on one channel through one node with the official SDK,
    one after the other as an app server sends them, and notes each answer. At ``hold`` it waits
    for ``resume``, so the disruption under test happens in the middle of the burst."""

    node: TidingsServer
    channel: str
    count: int = BURST
    hold: int = BURST // 2
    resume: threading.Event = field(default_factory=threading.Event)
    accepted: list[int] = field(default_factory=list)
    refused: dict[int, str] = field(default_factory=dict)  # n -> the SDK's error
    unanswered: dict[int, str] = field(default_factory=dict)
    answered: int = 0
    _answer: threading.Condition = field(default_factory=threading.Condition)

    def run(self) -> None:
        sdk = sdk_for(self.node)
        for n in range(self.count):
            if n == self.hold:
                self.resume.wait(DELIVERY_TIMEOUT)
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


def assert_every_200_delivered_once_in_order(burst: Burst, got: list[int]) -> None:
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
