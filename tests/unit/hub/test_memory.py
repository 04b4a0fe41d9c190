"""The in-memory hub: presence rules, fan-out and counts, with recording subscribers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest

from tidings.apps import App, WebhookTarget
from tidings.events import EventBus, HubEvent, HubEventKind
from tidings.hub import MemoryAdapter
from tidings.protocol.errors import SubscriptionError
from tidings.protocol.framing import text_frame
from tidings.protocol.presence import Member

APP = App(id="1", key="k", secret="s", max_presence_members_per_channel=2)


@dataclass
class Socket:
    socket_id: str
    app: App = APP
    frames: list[bytes] = field(default_factory=list)
    closed: list[int] = field(default_factory=list)

    def send(self, frame: bytes) -> None:
        self.frames.append(frame)

    def terminate(self, code: int, message: str) -> None:
        self.closed.append(code)

    def events(self) -> list[tuple[str, Any]]:
        decoded = [orjson.loads(f[2:] if f[1] < 126 else f[4:]) for f in self.frames]
        return [(d["event"], orjson.loads(d["data"])) for d in decoded]


@pytest.fixture
def bus_events() -> tuple[EventBus, list[HubEvent]]:
    bus = EventBus()
    seen: list[HubEvent] = []
    bus.subscribe(seen.append)
    return bus, seen


async def test_publish_writes_the_same_frame_to_all_but_the_excluded(
    bus_events: tuple[EventBus, list[HubEvent]],
) -> None:
    hub = MemoryAdapter(bus_events[0])
    a, b, c = Socket("1.1"), Socket("1.2"), Socket("1.3")
    for sock in (a, b, c):
        await hub.add_connection(sock)
        await hub.subscribe(sock, "news", None)
    await hub.publish("1", "news", b'{"event":"e"}', except_socket_id="1.2")
    assert a.frames == c.frames == [text_frame(b'{"event":"e"}')]
    assert a.frames[0] is c.frames[0]  # framed once, shared
    assert b.frames == []


async def test_occupied_and_vacated_fire_once(bus_events: tuple[EventBus, list[HubEvent]]) -> None:
    bus, seen = bus_events
    hub = MemoryAdapter(bus)
    a, b = Socket("1.1"), Socket("1.2")
    await hub.subscribe(a, "news", None)
    await hub.subscribe(b, "news", None)
    await hub.unsubscribe(a, "news", None)
    assert await hub.unsubscribe(b, "news", None) == 0
    assert [e.kind for e in seen] == ["channel_occupied", "channel_vacated"]
    assert await hub.channels("1") == {}


async def test_presence_counts_users_not_sockets(
    bus_events: tuple[EventBus, list[HubEvent]],
) -> None:
    bus, seen = bus_events
    hub = MemoryAdapter(bus)
    watcher, ada1, ada2 = Socket("1.1"), Socket("1.2"), Socket("1.3")
    await hub.subscribe(watcher, "presence-r", Member("w", None))
    joined = await hub.subscribe(ada1, "presence-r", Member("ada", {"n": 1}))
    assert joined.members == {"w": None, "ada": {"n": 1}}
    await hub.subscribe(ada2, "presence-r", Member("ada", {"n": 1}))
    assert (await hub.channel("1", "presence-r")).user_count == 2
    assert watcher.events() == [
        ("pusher_internal:member_added", {"user_id": "ada", "user_info": {"n": 1}})
    ]
    assert ada1.events() == []  # the second socket of the same user is not news
    await hub.unsubscribe(ada1, "presence-r", Member("ada", None))
    assert len(watcher.events()) == 1
    await hub.remove_connection(ada2, {"presence-r": Member("ada", None)}, None)
    assert watcher.events()[-1] == ("pusher_internal:member_removed", {"user_id": "ada"})
    assert [e.kind for e in seen if e.kind.startswith("member")] == [
        "member_added",
        "member_added",
        "member_removed",
    ]
    assert await hub.members("1", "presence-r") == {"w": None}


async def test_presence_member_limit(bus_events: tuple[EventBus, list[HubEvent]]) -> None:
    hub = MemoryAdapter(bus_events[0])
    await hub.subscribe(Socket("1.1"), "presence-r", Member("a", None))
    await hub.subscribe(Socket("1.2"), "presence-r", Member("b", None))
    await hub.subscribe(Socket("1.3"), "presence-r", Member("a", None))  # same user: fine
    with pytest.raises(SubscriptionError) as caught:
        await hub.subscribe(Socket("1.4"), "presence-r", Member("c", None))
    assert caught.value.kind == "LimitReached"


async def test_connections_limit_and_cleanup(bus_events: tuple[EventBus, list[HubEvent]]) -> None:
    hub = MemoryAdapter(bus_events[0])
    app = App(id="2", key="k2", secret="s", max_connections=1)
    first, second = Socket("1.1", app), Socket("1.2", app)
    assert await hub.add_connection(first)
    assert not await hub.add_connection(second)
    await hub.subscribe(first, "news", None)
    await hub.remove_connection(first, {"news": None}, None)
    assert hub.connection_count() == 0 and await hub.channels("2") == {}
    assert await hub.add_connection(second)


async def test_users_watchlist_and_termination(
    bus_events: tuple[EventBus, list[HubEvent]],
) -> None:
    hub = MemoryAdapter(bus_events[0])
    watcher, ada = Socket("1.1"), Socket("1.2")
    assert await hub.sign_in(watcher, "w", ("ada",)) == {"ada": False}
    await hub.sign_in(ada, "ada", ())
    await hub.send_to_user("1", "ada", b'{"event":"hi","channel":"#server-to-user-ada"}')
    assert len(ada.frames) == 1
    assert watcher.events() == [
        ("pusher_internal:watchlist_events", {"events": [{"name": "online", "user_ids": ["ada"]}]})
    ]
    await hub.terminate_user("1", "ada")
    assert ada.closed == [4009]
    await hub.remove_connection(ada, {}, "ada")
    assert watcher.events()[-1][1]["events"][0]["name"] == "offline"


async def test_cache_expires() -> None:
    now = [100.0]
    hub = MemoryAdapter(EventBus(), clock=lambda: now[0])
    await hub.cache_set("1", "cache-x", b"payload", ttl=10)
    assert await hub.cache_get("1", "cache-x") == (b"payload", 10)
    now[0] = 110.5
    assert await hub.cache_get("1", "cache-x") is None


HOOKED = App(id="7", key="k7", secret="s", webhooks=(WebhookTarget("http://receiver.test/"),))


async def test_a_return_within_the_window_claims_the_departure_and_says_so() -> None:
    now = [0.0]
    bus = EventBus()
    seen: list[HubEvent] = []
    bus.subscribe(seen.append)
    hub = MemoryAdapter(bus, clock=lambda: now[0], departure_ttl=13.0)
    ada = Member("ada", None)
    page = Socket("1.1", HOOKED)
    await hub.subscribe(page, "presence-r", ada)
    await hub.remove_connection(page, {"presence-r": ada}, None)
    departures = seen[-2:]
    assert [e.kind for e in departures] == ["member_removed", "channel_vacated"]
    assert hub.departure_marks() == 2

    now[0] = 1.0  # the page reloads
    await hub.subscribe(Socket("1.2", HOOKED), "presence-r", ada)
    assert [(e.kind, e.returned) for e in seen[-2:]] == [
        ("member_added", True),
        ("channel_occupied", True),
    ]
    assert hub.departure_marks() == 0
    assert await hub.confirm_departures(departures) == [False, False]


async def test_a_departure_nobody_returned_from_is_confirmed_once() -> None:
    bus = EventBus()
    seen: list[HubEvent] = []
    bus.subscribe(seen.append)
    hub = MemoryAdapter(bus, departure_ttl=13.0)
    page = Socket("1.1", HOOKED)
    await hub.subscribe(page, "news", None)
    await hub.unsubscribe(page, "news", None)
    vacated = seen[-1]
    assert await hub.confirm_departures([vacated]) == [True]
    assert await hub.confirm_departures([vacated]) == [False]
    await hub.subscribe(Socket("1.2", HOOKED), "news", None)
    assert seen[-1] == HubEvent(
        HubEventKind.CHANNEL_OCCUPIED, "7", "news"
    )  # news again, not a return


async def test_marks_expire_and_are_swept_so_they_never_pile_up() -> None:
    now = [0.0]
    hub = MemoryAdapter(EventBus(), clock=lambda: now[0], departure_ttl=13.0)
    for n in range(100):
        page = Socket(f"1.{n}", HOOKED)
        await hub.subscribe(page, f"room-{n}", None)
        await hub.unsubscribe(page, f"room-{n}", None)
    assert hub.departure_marks() == 100
    now[0] = 13.5
    late = Socket("1.100", HOOKED)
    await hub.subscribe(late, "room-0", None)  # too late to be a return
    await hub.unsubscribe(late, "room-0", None)
    assert hub.departure_marks() == 1  # the expired ones went with this new mark


async def test_no_marks_without_webhooks_or_without_a_delay() -> None:
    bus = EventBus()
    seen: list[HubEvent] = []
    bus.subscribe(seen.append)
    with_delay = MemoryAdapter(bus, departure_ttl=13.0)
    without_delay = MemoryAdapter(bus)
    for hub, app in ((with_delay, APP), (without_delay, HOOKED)):
        page = Socket("1.1", app)
        await hub.subscribe(page, "news", None)
        await hub.unsubscribe(page, "news", None)
        await hub.subscribe(Socket("1.2", app), "news", None)
        assert hub.departure_marks() == 0
        assert seen[-1].returned is False
    vacated = seen[-2]
    assert vacated == HubEvent(HubEventKind.CHANNEL_VACATED, "7", "news")
    # Nothing marked, nothing to contradict: a delayed departure is sent.
    assert await without_delay.confirm_departures([vacated]) == [True]


async def test_expired_cache_entries_of_unread_channels_are_swept() -> None:
    now = [0.0]
    hub = MemoryAdapter(EventBus(), clock=lambda: now[0])
    for index in range(1500):
        await hub.cache_set("1", f"cache-{index}", b"x", ttl=10)
    now[0] = 20.0  # all of them expired, none read again
    for index in range(3000):
        await hub.cache_set("1", f"cache-new-{index}", b"x", ttl=10)
    assert len(hub._apps["1"].cache) == 3000  # only the live ones
    assert await hub.cache_get("1", "cache-new-2999") == (b"x", 10)
