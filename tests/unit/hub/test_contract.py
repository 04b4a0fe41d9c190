"""The Adapter contract (hub/base.py), run against every driver.

Each test runs on ``MemoryAdapter``, on ``RedisAdapter`` backed by a real redis-server (one
per module, FLUSHALL and a fresh key prefix per test), on ``RedisAdapter`` reaching Redis
through Sentinel (1 master, 1 replica, 3 sentinels) and on a 3-master Redis Cluster. The
``two_nodes`` tests put two Redis adapters on the same store, as two tidings nodes of one
cluster. Everything is in-process: no tidings server, only the adapters and fake subscribers
from contract_support.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import orjson
import pytest
import redis as redis_sync

from tests.support.redis_cluster import RedisClusterSetup
from tests.support.redis_sentinel import SentinelSetup
from tests.support.redis_server import RedisServer
from tests.unit.hub.contract_support import Message, Recorder, Socket, names, settle, until
from tidings.apps import App, WebhookTarget
from tidings.config import ServerSettings
from tidings.events import EventBus, HubEvent
from tidings.hub.base import Adapter, ChannelStats, Joined, Outgoing, departure_ttl
from tidings.hub.memory import MemoryAdapter
from tidings.hub.redis import RedisAdapter
from tidings.protocol import messages
from tidings.protocol.errors import SubscriptionError
from tidings.protocol.presence import Member

APP = App(id="1", key="key-1", secret="secret")
OTHER = App(id="2", key="key-2", secret="secret")
LIMITED = App(id="3", key="key-3", secret="secret", max_connections=2)
SMALL = App(id="4", key="key-4", secret="secret", max_presence_members_per_channel=2)
HOOKED = App(
    id="7", key="key-7", secret="secret", webhooks=(WebhookTarget("http://receiver.test/"),)
)
PRESENCE = "presence-room"
VACATE_DELAY = 3.0  # webhook_vacate_delay of the adapters that keep departure marks


# -- drivers ------------------------------------------------------------------------------------
class Driver:
    """Starts adapters of one kind. Redis ones share a store and a prefix: nodes of a cluster."""

    def __init__(self, kind: str, store: dict[str, Any] | None = None, port: int = 0) -> None:
        self.kind = kind
        self._store = store or {}  # redis_url, or redis_sentinels and redis_sentinel_master
        self.port = port  # the Redis (master) the store is on, for tests that cut it off
        self._prefix = f"contract-{uuid.uuid4().hex[:12]}"
        self._started: list[Adapter] = []
        self._recorders: dict[int, Recorder] = {}

    async def start(self, *, departures: bool = False) -> Adapter:
        bus = EventBus()
        recorder = Recorder(bus)
        adapter: Adapter
        if self.kind == "memory":
            ttl = departure_ttl(VACATE_DELAY) if departures else 0.0
            adapter = MemoryAdapter(bus, departure_ttl=ttl)
        else:
            settings = ServerSettings(
                **self._store,
                redis_prefix=self._prefix,
                redis_timeout=2.0,
                node_timeout=10.0,
                webhook_vacate_delay=VACATE_DELAY if departures else 0.0,
            )
            adapter = RedisAdapter(bus, settings)
        await adapter.start()
        self._started.append(adapter)
        self._recorders[id(adapter)] = recorder
        await until(adapter.ready)  # connected, pub/sub included, before anything is published
        return adapter

    def events(self, adapter: Adapter) -> Recorder:
        return self._recorders[id(adapter)]

    async def close(self) -> None:
        for adapter in reversed(self._started):
            await adapter.close()


@pytest.fixture(scope="module")
def contract_redis() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


@pytest.fixture(scope="module")
def contract_sentinel() -> Iterator[SentinelSetup]:
    with SentinelSetup() as setup:
        yield setup


def _fresh_store(request: pytest.FixtureRequest, kind: str) -> tuple[dict[str, Any], int]:
    """The settings of a flushed Redis (one redis-server, or the master behind Sentinel) and
    the port it listens on."""
    if kind == "sentinel":
        setup: SentinelSetup = request.getfixturevalue("contract_sentinel")
        with setup.master_client() as client:
            client.flushall()
            return setup.settings(), int(client.connection_pool.connection_kwargs["port"])
    if kind == "cluster":
        cluster: RedisClusterSetup = request.getfixturevalue("redis_cluster")
        cluster.flushall()
        return {"redis_url": cluster.url}, cluster.ports[0]
    server: RedisServer = request.getfixturevalue("contract_redis")
    with redis_sync.Redis.from_url(server.url) as client:
        client.flushall()
    return {"redis_url": server.url}, server.port


@pytest.fixture(params=["memory", "redis", "sentinel", "cluster"])
def store(request: pytest.FixtureRequest) -> dict[str, Any]:
    """No settings for the memory driver; a flushed Redis (one server, behind Sentinel, or a
    3-master Redis Cluster) for the Redis driver."""
    return {} if request.param == "memory" else _fresh_store(request, request.param)[0]


@pytest.fixture
async def driver(store: dict[str, Any]) -> AsyncIterator[Driver]:
    started = Driver("redis" if store else "memory", store)
    yield started
    await started.close()


@pytest.fixture
async def adapter(driver: Driver) -> Adapter:
    return await driver.start()


@pytest.fixture
def events(driver: Driver, adapter: Adapter) -> Recorder:
    return driver.events(adapter)


@pytest.fixture
async def departing(driver: Driver) -> Adapter:
    """An adapter whose departures wait out a webhook vacate delay (and leave marks)."""
    return await driver.start(departures=True)


@pytest.fixture(params=["redis", "sentinel"])
async def redis_driver(request: pytest.FixtureRequest) -> AsyncIterator[Driver]:
    started = Driver("redis", *_fresh_store(request, request.param))
    yield started
    await started.close()


@pytest.fixture
async def two_nodes(redis_driver: Driver) -> tuple[Adapter, Adapter]:
    return await redis_driver.start(), await redis_driver.start()


# -- helpers ------------------------------------------------------------------------------------
async def connect(adapter: Adapter, app: App = APP) -> Socket:
    sock = Socket(app)
    assert await adapter.add_connection(sock)
    return sock


def app_event(channel: str, name: str = "update", data: Any = None) -> bytes:
    return messages.event(name, channel, orjson.dumps(data or {"n": 1}).decode())


def received(sock: Socket, payload: bytes) -> bool:
    return any(frame.endswith(payload) for frame in sock.frames)


def member_added(channel: str, user_id: str, user_info: Any) -> Message:
    data = {"user_id": user_id, "user_info": user_info}
    return Message("pusher_internal:member_added", channel, data)


def member_removed(channel: str, user_id: str) -> Message:
    return Message("pusher_internal:member_removed", channel, {"user_id": user_id})


def watchlist(name: str, user_id: str) -> Message:
    data = {"events": [{"name": name, "user_ids": [user_id]}]}
    return Message("pusher_internal:watchlist_events", None, data)


def returned(events: list[HubEvent]) -> list[tuple[str, bool]]:
    return sorted(zip(names(events), (e.returned for e in events), strict=True))


# -- connections ---------------------------------------------------------------------------------
async def test_ready_once_started(adapter: Adapter) -> None:
    assert adapter.ready()


async def test_connections_are_counted_and_forgotten(adapter: Adapter) -> None:
    assert adapter.connection_count() == 0
    a, b = await connect(adapter), await connect(adapter, OTHER)
    assert adapter.connection_count() == 2
    await adapter.remove_connection(a, {}, None)
    assert adapter.connection_count() == 1
    await adapter.remove_connection(b, {}, None)
    assert adapter.connection_count() == 0


async def test_max_connections_refuses_then_admits_after_a_close(adapter: Adapter) -> None:
    a, b, c = Socket(LIMITED), Socket(LIMITED), Socket(LIMITED)
    assert await adapter.add_connection(a)
    assert await adapter.add_connection(b)
    assert not await adapter.add_connection(c)
    assert adapter.connection_count() == 2  # the refused one is not counted
    assert await adapter.add_connection(Socket(APP))  # the limit is per app
    await adapter.remove_connection(a, {}, None)
    assert await adapter.add_connection(c)
    assert not await adapter.add_connection(a)


# -- channels ------------------------------------------------------------------------------------
async def test_subscribe_and_unsubscribe_return_subscription_counts(
    adapter: Adapter, events: Recorder
) -> None:
    a, b, c = await connect(adapter), await connect(adapter), await connect(adapter)
    assert await adapter.subscribe(a, "news", None) == Joined(1, None)
    assert await adapter.subscribe(b, "news", None) == Joined(2, None)
    assert await adapter.subscribe(c, "private-other", None) == Joined(1, None)
    assert await adapter.unsubscribe(b, "news", None) == 1
    events.clear()
    assert await adapter.unsubscribe(b, "news", None) == 1  # not subscribed: nothing changes
    assert events.seen == []
    assert await adapter.unsubscribe(a, "news", None) == 0
    assert (await adapter.channel(APP.id, "private-other")).subscription_count == 1


async def test_channel_stats_count_users_on_presence_channels_only(adapter: Adapter) -> None:
    assert await adapter.channel(APP.id, "news") == ChannelStats(0, None)
    assert await adapter.channel(APP.id, PRESENCE) == ChannelStats(0, 0)
    assert await adapter.channels(APP.id) == {}
    a, b = await connect(adapter), await connect(adapter)
    ada1, ada2, bob = await connect(adapter), await connect(adapter), await connect(adapter)
    await adapter.subscribe(a, "news", None)
    await adapter.subscribe(b, "news", None)
    await adapter.subscribe(a, "private-x", None)
    await adapter.subscribe(ada1, PRESENCE, Member("ada", None))
    await adapter.subscribe(ada2, PRESENCE, Member("ada", None))
    await adapter.subscribe(bob, PRESENCE, Member("bob", None))

    assert await adapter.channel(APP.id, "news") == ChannelStats(2, None)
    assert await adapter.channel(APP.id, PRESENCE) == ChannelStats(3, 2)
    assert await adapter.channels(APP.id) == {
        "news": ChannelStats(2, None),
        "private-x": ChannelStats(1, None),
        PRESENCE: ChannelStats(3, 2),
    }
    assert await adapter.channels(OTHER.id) == {}  # channels are per app

    await adapter.unsubscribe(a, "news", None)
    await adapter.unsubscribe(b, "news", None)
    await adapter.unsubscribe(ada1, PRESENCE, Member("ada", None))
    assert await adapter.channel(APP.id, "news") == ChannelStats(0, None)
    assert await adapter.channels(APP.id) == {
        "private-x": ChannelStats(1, None),
        PRESENCE: ChannelStats(2, 2),
    }


async def test_channel_occupied_and_vacated_fire_once(adapter: Adapter, events: Recorder) -> None:
    a, b = await connect(adapter), await connect(adapter)
    await adapter.subscribe(a, "news", None)
    await adapter.subscribe(b, "news", None)
    await adapter.unsubscribe(a, "news", None)
    assert events.summary() == [("channel_occupied", "news", None)]
    await adapter.unsubscribe(b, "news", None)
    assert events.summary() == [
        ("channel_occupied", "news", None),
        ("channel_vacated", "news", None),
    ]
    assert all(e.app_id == APP.id and not e.returned for e in events.seen)
    await adapter.subscribe(a, "news", None)  # occupied again: news again
    assert events.names() == ["channel_occupied", "channel_vacated", "channel_occupied"]


# -- presence ------------------------------------------------------------------------------------
async def test_presence_first_join_is_news_to_the_others_not_the_joiner(
    adapter: Adapter, events: Recorder
) -> None:
    w, ada = await connect(adapter), await connect(adapter)
    assert await adapter.subscribe(w, PRESENCE, Member("w", {"name": "W"})) == Joined(
        1, {"w": {"name": "W"}}
    )
    assert sorted(events.summary()) == [
        ("channel_occupied", PRESENCE, None),
        ("member_added", PRESENCE, "w"),
    ]
    events.clear()

    joined = await adapter.subscribe(ada, PRESENCE, Member("ada", {"name": "Ada"}))
    assert joined == Joined(2, {"w": {"name": "W"}, "ada": {"name": "Ada"}})
    assert events.summary() == [("member_added", PRESENCE, "ada")]
    assert events.seen[0].app_id == APP.id and not events.seen[0].returned
    await until(lambda: w.frames)
    await settle(adapter)
    assert w.messages() == [member_added(PRESENCE, "ada", {"name": "Ada"})]
    assert ada.frames == []  # the joiner learns of itself from subscription_succeeded


async def test_a_second_socket_of_the_same_user_adds_nothing(
    adapter: Adapter, events: Recorder
) -> None:
    w, ada1, ada2 = await connect(adapter), await connect(adapter), await connect(adapter)
    await adapter.subscribe(w, PRESENCE, Member("w", None))
    await adapter.subscribe(ada1, PRESENCE, Member("ada", {"n": 1}))
    await settle(adapter)
    w.clear()
    events.clear()

    joined = await adapter.subscribe(ada2, PRESENCE, Member("ada", {"n": 1}))
    assert joined == Joined(3, {"w": None, "ada": {"n": 1}})
    assert await adapter.channel(APP.id, PRESENCE) == ChannelStats(3, 2)
    assert await adapter.unsubscribe(ada1, PRESENCE, Member("ada", {"n": 1})) == 2
    await settle(adapter)
    assert events.seen == []
    assert w.frames == ada1.frames == ada2.frames == []
    assert await adapter.members(APP.id, PRESENCE) == {"w": None, "ada": {"n": 1}}


async def test_the_last_socket_of_a_user_leaving_removes_the_member(
    adapter: Adapter, events: Recorder
) -> None:
    w, ada1, ada2 = await connect(adapter), await connect(adapter), await connect(adapter)
    await adapter.subscribe(w, PRESENCE, Member("w", None))
    await adapter.subscribe(ada1, PRESENCE, Member("ada", None))
    await adapter.subscribe(ada2, PRESENCE, Member("ada", None))
    await settle(adapter)
    w.clear()
    events.clear()

    await adapter.unsubscribe(ada1, PRESENCE, Member("ada", None))
    assert events.seen == []
    assert await adapter.unsubscribe(ada2, PRESENCE, Member("ada", None)) == 1
    assert events.summary() == [("member_removed", PRESENCE, "ada")]
    await until(lambda: w.frames)
    await settle(adapter)
    assert w.messages() == [member_removed(PRESENCE, "ada")]
    assert await adapter.members(APP.id, PRESENCE) == {"w": None}
    assert await adapter.channel(APP.id, PRESENCE) == ChannelStats(1, 1)

    events.clear()
    assert await adapter.unsubscribe(w, PRESENCE, Member("w", None)) == 0
    assert sorted(events.summary()) == [
        ("channel_vacated", PRESENCE, None),
        ("member_removed", PRESENCE, "w"),
    ]
    assert await adapter.members(APP.id, PRESENCE) == {}


async def test_members_are_the_distinct_users_with_their_info(adapter: Adapter) -> None:
    assert await adapter.members(APP.id, PRESENCE) == {}
    infos: dict[str, Any] = {"1": {"name": "One", "tags": ["a", "b"]}, "ada": None, "x": 5}
    for user_id, info in infos.items():
        await adapter.subscribe(await connect(adapter), PRESENCE, Member(user_id, info))
    await adapter.subscribe(await connect(adapter), PRESENCE, Member("ada", None))
    assert await adapter.members(APP.id, PRESENCE) == infos
    assert await adapter.members(APP.id, "presence-elsewhere") == {}
    assert await adapter.members(OTHER.id, PRESENCE) == {}


async def test_a_full_presence_channel_refuses_new_users(
    adapter: Adapter, events: Recorder
) -> None:
    a1, a2, b, c = [await connect(adapter, SMALL) for _ in range(4)]
    await adapter.subscribe(a1, PRESENCE, Member("a", None))
    await adapter.subscribe(b, PRESENCE, Member("b", None))
    await adapter.subscribe(a2, PRESENCE, Member("a", None))  # a user already in: fine
    await settle(adapter)
    a1.clear()
    events.clear()

    with pytest.raises(SubscriptionError) as refused:
        await adapter.subscribe(c, PRESENCE, Member("c", {"n": 3}))
    assert refused.value.channel == PRESENCE
    assert refused.value.kind == "LimitReached"
    assert events.seen == []
    assert await adapter.channel(SMALL.id, PRESENCE) == ChannelStats(3, 2)
    assert await adapter.members(SMALL.id, PRESENCE) == {"a": None, "b": None}

    payload = app_event(PRESENCE)
    await adapter.publish(SMALL.id, PRESENCE, payload)
    await until(lambda: received(b, payload))
    await settle(adapter)
    assert a1.messages() == [Message("update", PRESENCE, {"n": 1})]  # no member_added c
    assert c.frames == []  # refused: not a subscriber

    await adapter.unsubscribe(a1, PRESENCE, Member("a", None))
    await adapter.unsubscribe(a2, PRESENCE, Member("a", None))
    joined = await adapter.subscribe(c, PRESENCE, Member("c", {"n": 3}))
    assert joined.members == {"b": None, "c": {"n": 3}}


# -- fan-out -------------------------------------------------------------------------------------
async def test_publish_reaches_every_subscriber_but_the_excluded(adapter: Adapter) -> None:
    a, b, c, d = [await connect(adapter) for _ in range(4)]
    for sock in (a, b, c):
        await adapter.subscribe(sock, "news", None)
    await adapter.subscribe(d, "sport", None)
    await adapter.publish(APP.id, "nobody-here", app_event("nobody-here"))  # no error

    first = app_event("news", data={"n": 1})
    await adapter.publish(APP.id, "news", first, except_socket_id=b.socket_id)
    big = app_event("news", data={"blob": "x" * 70_000})  # a 10-byte frame header
    await adapter.publish(APP.id, "news", big)
    await until(lambda: received(a, big) and received(b, big) and received(c, big))
    await settle(adapter)
    assert (
        a.messages()
        == c.messages()
        == [
            Message("update", "news", {"n": 1}),
            Message("update", "news", {"blob": "x" * 70_000}),
        ]
    )
    assert b.messages() == [Message("update", "news", {"blob": "x" * 70_000})]
    assert d.frames == []


async def test_publish_many_delivers_in_order(adapter: Adapter, store: dict[str, Any]) -> None:
    """In the order given, except across channels on a Redis Cluster: there each channel's
    events travel through its own shard, so only the order within a channel holds."""
    both, only_a = await connect(adapter), await connect(adapter)
    await adapter.subscribe(both, "a", None)
    await adapter.subscribe(both, "b", None)
    await adapter.subscribe(only_a, "a", None)
    outgoing = [
        ("a", app_event("a", "e1"), None),
        ("b", app_event("b", "e2"), None),
        ("a", app_event("a", "e3"), both.socket_id),
        ("a", app_event("a", "e4"), None),
        ("b", app_event("b", "e5"), only_a.socket_id),  # excluding a non-subscriber
    ]
    await adapter.publish_many(APP.id, outgoing)
    await until(lambda: len(both.frames) == 4 and len(only_a.frames) == 3)
    await settle(adapter)
    expected = [("e1", "a"), ("e2", "b"), ("e4", "a"), ("e5", "b")]
    got = [(m.event, m.channel) for m in both.messages()]
    if str(store.get("redis_url", "")).startswith("redis+cluster://"):
        got, expected = sorted(got, key=lambda m: m[1]), sorted(expected, key=lambda m: m[1])
    assert got == expected
    assert [(m.event, m.channel) for m in only_a.messages()] == [
        ("e1", "a"),
        ("e3", "a"),
        ("e4", "a"),
    ]


async def test_announce_subscription_count_sends_the_count_to_every_subscriber(
    adapter: Adapter,
) -> None:
    a, b, other = await connect(adapter), await connect(adapter), await connect(adapter)
    await adapter.subscribe(a, "news", None)
    await adapter.subscribe(b, "news", None)
    await adapter.subscribe(other, "sport", None)
    assert await adapter.announce_subscription_count(APP.id, "news") == 2
    await until(lambda: a.frames and b.frames)
    assert await adapter.announce_subscription_count(APP.id, "empty") == 0
    await settle(adapter)
    expected = Message("pusher_internal:subscription_count", "news", {"subscription_count": 2})
    assert a.messages() == b.messages() == [expected]
    assert other.frames == []


# -- users ---------------------------------------------------------------------------------------
async def test_send_to_user_reaches_each_of_their_sockets_only(adapter: Adapter) -> None:
    ada1, ada2, bob, anon = [await connect(adapter) for _ in range(4)]
    await adapter.sign_in(ada1, "ada", ())
    await adapter.sign_in(ada2, "ada", ())
    await adapter.sign_in(bob, "bob", ())
    payload = messages.event("hi", "#server-to-user-ada", "{}")
    await adapter.send_to_user(APP.id, "ada", payload)
    await adapter.send_to_user(APP.id, "nobody", payload)  # no error
    await until(lambda: ada1.frames and ada2.frames)
    await settle(adapter)
    assert ada1.messages() == ada2.messages() == [Message("hi", "#server-to-user-ada", {})]
    assert bob.frames == anon.frames == []


async def test_sign_in_reports_watched_users_and_tells_their_watchers(adapter: Adapter) -> None:
    watcher, bob, ada1, ada2 = [await connect(adapter) for _ in range(4)]
    assert await adapter.sign_in(watcher, "w", ("ada", "bob")) == {"ada": False, "bob": False}
    assert await adapter.sign_in(bob, "bob", ()) == {}
    statuses = await adapter.sign_in(ada1, "ada", ("w", "bob", "carol"))
    assert statuses == {"w": True, "bob": True, "carol": False}
    await until(lambda: len(watcher.frames) == 2)
    await adapter.sign_in(ada2, "ada", ())  # already online: not news
    await adapter.remove_connection(ada1, {}, "ada")  # still online on ada2
    await settle(adapter)
    assert watcher.messages() == [watchlist("online", "bob"), watchlist("online", "ada")]

    await adapter.remove_connection(ada2, {}, "ada")
    await until(lambda: len(watcher.frames) == 3)
    await settle(adapter)
    assert watcher.messages()[2:] == [watchlist("offline", "ada")]
    assert bob.frames == []  # bob watches nobody


async def test_terminate_user_terminates_each_of_their_sockets(adapter: Adapter) -> None:
    ada1, ada2, bob = [await connect(adapter) for _ in range(3)]
    await adapter.sign_in(ada1, "ada", ())
    await adapter.sign_in(ada2, "ada", ())
    await adapter.sign_in(bob, "bob", ())
    await adapter.terminate_user(APP.id, "ada")
    await adapter.terminate_user(APP.id, "nobody")  # no error
    await until(lambda: ada1.terminations and ada2.terminations)
    await settle(adapter)
    for sock in (ada1, ada2):
        assert [code for code, _ in sock.terminations] == [4009]
        assert sock.terminations[0][1]  # with a message for pusher:error
    assert bob.terminations == []


# -- cache ---------------------------------------------------------------------------------------
async def test_cache_keeps_the_last_event_for_its_ttl(adapter: Adapter) -> None:
    assert await adapter.cache_get(APP.id, "cache-x") is None
    await adapter.cache_set(APP.id, "cache-x", b"first", ttl=30)
    cached = await adapter.cache_get(APP.id, "cache-x")
    assert cached is not None and cached[0] == b"first" and 29 < cached[1] <= 30
    await adapter.cache_set(APP.id, "cache-x", b"second", ttl=60)
    cached = await adapter.cache_get(APP.id, "cache-x")
    assert cached is not None and cached[0] == b"second" and 59 < cached[1] <= 60
    assert await adapter.cache_get(APP.id, "cache-y") is None
    assert await adapter.cache_get(OTHER.id, "cache-x") is None

    await adapter.cache_set(APP.id, "cache-brief", b"gone soon", ttl=0.05)

    async def expired() -> bool:
        return await adapter.cache_get(APP.id, "cache-brief") is None

    await until(expired)
    assert (await adapter.cache_get(APP.id, "cache-x") or (b"",))[0] == b"second"


# -- departure marks -----------------------------------------------------------------------------
async def test_a_return_within_the_delay_claims_the_departure(
    driver: Driver, departing: Adapter
) -> None:
    events = driver.events(departing)
    ada = Member("ada", {"n": 1})
    page = await connect(departing, HOOKED)
    await departing.subscribe(page, PRESENCE, ada)
    await departing.remove_connection(page, {PRESENCE: ada}, None)
    departures = events.named("member_removed", "channel_vacated")
    assert sorted(names(departures)) == ["channel_vacated", "member_removed"]
    events.clear()

    reloaded = await connect(departing, HOOKED)  # the page reloads
    await departing.subscribe(reloaded, PRESENCE, ada)
    assert returned(events.seen) == [("channel_occupied", True), ("member_added", True)]
    assert await departing.confirm_departures(departures) == [False, False]


async def test_a_departure_nobody_returned_from_is_confirmed_once(
    driver: Driver, departing: Adapter
) -> None:
    events = driver.events(departing)
    w, ada = await connect(departing, HOOKED), await connect(departing, HOOKED)
    await departing.subscribe(w, PRESENCE, Member("w", None))
    await departing.subscribe(ada, PRESENCE, Member("ada", None))
    await departing.unsubscribe(ada, PRESENCE, Member("ada", None))
    removed = events.named("member_removed")
    assert [e.user_id for e in removed] == ["ada"]
    assert await departing.confirm_departures(removed) == [True]
    assert await departing.confirm_departures(removed) == [False]  # claimed by the first
    events.clear()
    await departing.subscribe(ada, PRESENCE, Member("ada", None))
    assert returned(events.seen) == [("member_added", False)]  # news again, not a return

    page = await connect(departing, HOOKED)
    await departing.subscribe(page, "news", None)
    await departing.unsubscribe(page, "news", None)
    vacated = events.named("channel_vacated")
    assert await departing.confirm_departures(vacated) == [True]
    events.clear()
    await departing.subscribe(page, "news", None)
    assert returned(events.seen) == [("channel_occupied", False)]


async def test_apps_without_webhooks_leave_no_departure_marks(
    driver: Driver, departing: Adapter
) -> None:
    events = driver.events(departing)
    page = await connect(departing, APP)
    await departing.subscribe(page, PRESENCE, Member("ada", None))
    await departing.unsubscribe(page, PRESENCE, Member("ada", None))
    events.clear()
    await departing.subscribe(page, PRESENCE, Member("ada", None))
    assert returned(events.seen) == [("channel_occupied", False), ("member_added", False)]


async def test_without_a_vacate_delay_every_departure_is_confirmed(
    adapter: Adapter, events: Recorder
) -> None:
    page = await connect(adapter, HOOKED)
    await adapter.subscribe(page, "news", None)
    await adapter.unsubscribe(page, "news", None)
    vacated = events.named("channel_vacated")
    events.clear()
    await adapter.subscribe(page, "news", None)
    assert returned(events.seen) == [("channel_occupied", False)]
    assert await adapter.confirm_departures(vacated) == [True]
    assert await adapter.confirm_departures([]) == []


# -- cleanup -------------------------------------------------------------------------------------
async def test_remove_connection_forgets_everything_about_the_socket(
    adapter: Adapter, events: Recorder
) -> None:
    watcher, page = await connect(adapter), await connect(adapter)
    await adapter.subscribe(watcher, "news", None)
    await adapter.subscribe(watcher, PRESENCE, Member("w", None))
    await adapter.sign_in(watcher, "w", ("ada",))
    await adapter.subscribe(page, "news", None)
    await adapter.subscribe(page, "private-own", None)
    await adapter.subscribe(page, PRESENCE, Member("ada", {"n": 1}))
    await adapter.sign_in(page, "ada", ("bob",))
    await settle(adapter)
    watcher.clear()
    events.clear()

    subscriptions: dict[str, Member | None] = {
        "news": None,
        "private-own": None,
        PRESENCE: Member("ada", {"n": 1}),
    }
    await adapter.remove_connection(page, subscriptions, "ada")
    assert adapter.connection_count() == 1
    assert sorted(events.summary()) == [
        ("channel_vacated", "private-own", None),
        ("member_removed", PRESENCE, "ada"),
    ]
    assert await adapter.channels(APP.id) == {
        "news": ChannelStats(1, None),
        PRESENCE: ChannelStats(1, 1),
    }
    assert await adapter.members(APP.id, PRESENCE) == {"w": None}
    await until(lambda: len(watcher.frames) == 2)
    await settle(adapter)
    assert sorted(watcher.messages(), key=lambda m: m.event) == [
        member_removed(PRESENCE, "ada"),
        watchlist("offline", "ada"),
    ]

    # Nothing reaches the closed socket any more: channels, user, watchlist.
    page.clear()
    await adapter.publish(APP.id, "news", app_event("news"))
    await adapter.publish(APP.id, "private-own", app_event("private-own"))
    await adapter.send_to_user(APP.id, "ada", app_event("#server-to-user-ada"))
    await adapter.terminate_user(APP.id, "ada")
    bob = await connect(adapter)
    await adapter.sign_in(bob, "bob", ())
    await settle(adapter)
    assert page.frames == [] and page.terminations == []
    assert await adapter.sign_in(await connect(adapter), "x", ("ada",)) == {"ada": False}


# A client may send pusher:subscribe again for a channel it is in, and the session passes it on:
# the socket is in the channel once, so closing it leaves nothing behind.
async def test_a_repeated_subscribe_counts_the_socket_once(
    adapter: Adapter, events: Recorder
) -> None:
    page = await connect(adapter)
    assert (await adapter.subscribe(page, "news", None)).subscription_count == 1
    assert (await adapter.subscribe(page, "news", None)).subscription_count == 1
    assert await adapter.channel(APP.id, "news") == ChannelStats(1, None)
    await adapter.remove_connection(page, {"news": None}, None)
    assert await adapter.channels(APP.id) == {}
    assert events.summary() == [
        ("channel_occupied", "news", None),
        ("channel_vacated", "news", None),
    ]


async def test_a_repeated_presence_subscribe_leaves_no_member_behind(
    adapter: Adapter, events: Recorder
) -> None:
    page = await connect(adapter)
    ada = Member("ada", None)
    await adapter.subscribe(page, PRESENCE, ada)
    await adapter.subscribe(page, PRESENCE, ada)
    await adapter.remove_connection(page, {PRESENCE: ada}, None)
    assert await adapter.members(APP.id, PRESENCE) == {}
    assert await adapter.channel(APP.id, PRESENCE) == ChannelStats(0, 0)
    assert sorted(events.summary()) == [
        ("channel_occupied", PRESENCE, None),
        ("channel_vacated", PRESENCE, None),
        ("member_added", PRESENCE, "ada"),
        ("member_removed", PRESENCE, "ada"),
    ]


# -- two nodes on one Redis ----------------------------------------------------------------------
async def test_two_nodes_a_subscriber_on_b_receives_what_a_publishes(
    two_nodes: tuple[Adapter, Adapter],
) -> None:
    a, b = two_nodes
    on_a, on_b, skipped = await connect(a), await connect(b), await connect(b)
    await a.subscribe(on_a, "news", None)
    await b.subscribe(on_b, "news", None)
    await b.subscribe(skipped, "news", None)
    payload = app_event("news", data={"from": "a"})
    await a.publish(APP.id, "news", payload, except_socket_id=skipped.socket_id)
    await until(lambda: on_b.frames)
    await b.publish(APP.id, "news", app_event("news", data={"from": "b"}))
    await until(lambda: len(on_a.frames) == 2)
    await settle(a, b)
    assert (
        on_a.messages()
        == on_b.messages()
        == [
            Message("update", "news", {"from": "a"}),
            Message("update", "news", {"from": "b"}),
        ]
    )
    assert skipped.messages() == [Message("update", "news", {"from": "b"})]


async def test_two_nodes_share_counts_channels_and_announcements(
    redis_driver: Driver, two_nodes: tuple[Adapter, Adapter]
) -> None:
    a, b = two_nodes
    on_a, on_b = await connect(a), await connect(b)
    assert await a.subscribe(on_a, "news", None) == Joined(1, None)
    assert await b.subscribe(on_b, "news", None) == Joined(2, None)
    for node in two_nodes:
        assert await node.channel(APP.id, "news") == ChannelStats(2, None)
        assert await node.channels(APP.id) == {"news": ChannelStats(2, None)}
    assert await b.announce_subscription_count(APP.id, "news") == 2
    await until(lambda: on_a.frames and on_b.frames)
    count = Message("pusher_internal:subscription_count", "news", {"subscription_count": 2})
    assert on_a.messages() == on_b.messages() == [count]

    batch: list[Outgoing] = [("news", app_event("news", f"e{n}"), None) for n in range(5)]
    await a.publish_many(APP.id, batch)
    await until(lambda: len(on_b.frames) == 6)
    assert [m.event for m in on_b.messages()[1:]] == [f"e{n}" for n in range(5)]

    assert await a.unsubscribe(on_a, "news", None) == 1
    assert await b.unsubscribe(on_b, "news", None) == 0
    assert redis_driver.events(a).names() == ["channel_occupied"]  # once, where it happened
    assert redis_driver.events(b).names() == ["channel_vacated"]


async def test_two_nodes_count_a_user_present_on_both_once(
    redis_driver: Driver, two_nodes: tuple[Adapter, Adapter]
) -> None:
    a, b = two_nodes
    events_a, events_b = redis_driver.events(a), redis_driver.events(b)
    w, ada_a, ada_b = await connect(a), await connect(a), await connect(b)
    await a.subscribe(w, PRESENCE, Member("w", None))
    await a.subscribe(ada_a, PRESENCE, Member("ada", {"n": 1}))
    joined = await b.subscribe(ada_b, PRESENCE, Member("ada", {"n": 1}))
    assert joined == Joined(3, {"w": None, "ada": {"n": 1}})
    for node in two_nodes:
        assert await node.channel(APP.id, PRESENCE) == ChannelStats(3, 2)
        assert await node.members(APP.id, PRESENCE) == {"w": None, "ada": {"n": 1}}
    assert names(events_a.named("member_added")) == ["member_added"] * 2  # w, ada
    assert events_b.seen == []
    await settle(a, b)
    assert w.messages() == [member_added(PRESENCE, "ada", {"n": 1})]
    assert ada_b.frames == []

    await a.unsubscribe(ada_a, PRESENCE, Member("ada", {"n": 1}))
    await settle(a, b)
    assert len(w.frames) == 1 and events_a.named("member_removed") == []
    await b.unsubscribe(ada_b, PRESENCE, Member("ada", {"n": 1}))
    assert events_b.summary() == [("member_removed", PRESENCE, "ada")]
    await until(lambda: len(w.frames) == 2)
    assert w.messages()[1] == member_removed(PRESENCE, "ada")
    assert await a.members(APP.id, PRESENCE) == {"w": None}


async def test_two_nodes_share_connection_limits_users_and_the_cache(
    two_nodes: tuple[Adapter, Adapter],
) -> None:
    a, b = two_nodes
    assert await a.add_connection(Socket(LIMITED))
    assert await b.add_connection(Socket(LIMITED))
    assert not await b.add_connection(Socket(LIMITED))  # the limit is cluster-wide

    watcher, ada_a, ada_b = await connect(b), await connect(a), await connect(b)
    assert await b.sign_in(watcher, "w", ("ada",)) == {"ada": False}
    assert await a.sign_in(ada_a, "ada", ()) == {}
    await until(lambda: watcher.frames)
    assert await a.sign_in(await connect(a), "x", ("w",)) == {"w": True}  # w is on node b
    await b.sign_in(ada_b, "ada", ())  # online already, on node a
    payload = messages.event("hi", "#server-to-user-ada", "{}")
    await b.send_to_user(APP.id, "ada", payload)
    await until(lambda: ada_a.frames)
    await b.terminate_user(APP.id, "ada")
    await until(lambda: ada_a.terminations)
    await settle(a, b)
    assert watcher.messages() == [watchlist("online", "ada")]
    assert ada_a.messages() == ada_b.messages() == [Message("hi", "#server-to-user-ada", {})]
    assert [code for code, _ in ada_a.terminations + ada_b.terminations] == [4009, 4009]

    await a.remove_connection(ada_a, {}, "ada")
    await b.remove_connection(ada_b, {}, "ada")
    await until(lambda: len(watcher.frames) == 2)
    assert watcher.messages()[1] == watchlist("offline", "ada")

    await a.cache_set(APP.id, "cache-x", b"shared", ttl=30)
    cached = await b.cache_get(APP.id, "cache-x")
    assert cached is not None and cached[0] == b"shared"


async def test_two_nodes_a_return_on_another_node_claims_the_departure(
    redis_driver: Driver,
) -> None:
    a = await redis_driver.start(departures=True)
    b = await redis_driver.start(departures=True)
    ada = Member("ada", None)
    page = await connect(a, HOOKED)
    await a.subscribe(page, PRESENCE, ada)
    await a.remove_connection(page, {PRESENCE: ada}, None)
    departures = redis_driver.events(a).named("member_removed", "channel_vacated")
    assert len(departures) == 2

    await b.subscribe(await connect(b, HOOKED), PRESENCE, ada)  # reconnected to the other node
    events_b = redis_driver.events(b).seen
    assert returned(events_b) == [("channel_occupied", True), ("member_added", True)]
    assert await a.confirm_departures(departures) == [False, False]
