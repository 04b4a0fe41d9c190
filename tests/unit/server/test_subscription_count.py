"""Subscription counts: every change announced at once, big channels at most every 5 s.

A real MemoryAdapter and EventBus carry the announcements; subscribers record their frames.
The running loop's clock is replaced by one the test advances, so the 5 s throttle is exercised
with real ``call_later`` timers and no waiting.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import orjson
import pytest

from tidings.apps import App
from tidings.events import EventBus, HubEvent, HubEventKind
from tidings.hub import MemoryAdapter
from tidings.server.subscription_count import INTERVAL, THROTTLE_ABOVE, SubscriptionCounts

APP = App(id="1", key="k", secret="s", enable_subscription_count=True)


@dataclass
class Socket:
    socket_id: str
    app: App = APP
    frames: list[bytes] = field(default_factory=list)

    def send(self, frame: bytes) -> None:
        self.frames.append(frame)

    def terminate(self, code: int, message: str) -> None:
        raise AssertionError("subscription counts never terminate a socket")

    def counts(self) -> list[int]:
        """The counts announced to this socket, in order."""
        seen = []
        for frame in self.frames:
            message = orjson.loads(frame[2:] if frame[1] < 126 else frame[4:])
            assert message["event"] == "pusher_internal:subscription_count"
            seen.append(orjson.loads(message["data"])["subscription_count"])
        return seen


class LoopClock:
    """Stands in for ``loop.time``; ``advance`` lets every timer due by then run to the end."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.now = 1000.0

    def time(self) -> float:
        return self.now

    async def advance(self, seconds: float) -> None:
        self.now += seconds
        # A marker due now: once it has fired, so has every timer due by now.
        reached = self.loop.create_future()
        self.loop.call_at(self.now, reached.set_result, None)
        await reached
        await settle()


async def settle() -> None:
    """Wait until every task spawned so far (and any they spawn) has finished."""
    current = asyncio.current_task()
    while others := [task for task in asyncio.all_tasks() if task is not current]:
        await asyncio.gather(*others)


@pytest.fixture
async def clock(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[LoopClock]:
    loop = asyncio.get_running_loop()
    fake = LoopClock(loop)
    monkeypatch.setattr(loop, "time", fake.time)
    yield fake


@dataclass
class Channel:
    """One channel on a real hub, with the announcements the bus saw."""

    hub: MemoryAdapter
    counts: SubscriptionCounts
    announced: list[HubEvent]
    name: str = "news"
    node: int = 1  # the socket ids' first part, to keep two channels' sockets apart
    sockets: list[Socket] = field(default_factory=list)

    async def grow_to(self, size: int) -> None:
        while len(self.sockets) < size:
            sock = Socket(f"{self.node}.{len(self.sockets) + 1}")
            await self.hub.subscribe(sock, self.name, None)
            self.sockets.append(sock)

    async def shrink_to(self, size: int) -> None:
        while len(self.sockets) > size:
            await self.hub.unsubscribe(self.sockets.pop(), self.name, None)

    async def change(self, size: int) -> None:
        """Resize the channel and report the change, as a connection does."""
        if size >= len(self.sockets):
            await self.grow_to(size)
        else:
            await self.shrink_to(size)
        self.counts.changed(APP, self.name, size)
        await settle()

    def announced_counts(self, channel: str = "news") -> list[int | None]:
        return [e.subscription_count for e in self.announced if e.channel == channel]


@pytest.fixture
def channel(clock: LoopClock) -> Channel:
    bus = EventBus()
    announced: list[HubEvent] = []
    bus.subscribe(
        lambda event: (
            announced.append(event) if event.kind is HubEventKind.SUBSCRIPTION_COUNT else None
        )
    )
    hub = MemoryAdapter(bus)
    return Channel(hub, SubscriptionCounts(hub, bus), announced)


# -- small channels -------------------------------------------------------------------------


async def test_every_change_on_a_small_channel_is_announced_at_once(channel: Channel) -> None:
    await channel.change(1)
    await channel.change(2)
    await channel.change(3)
    assert channel.announced_counts() == [1, 2, 3]
    assert channel.sockets[0].counts() == [1, 2, 3]
    assert channel.sockets[2].counts() == [3]  # joined last, hears from then on


async def test_the_announcement_is_a_hub_event_for_the_app_and_channel(channel: Channel) -> None:
    await channel.change(2)
    assert channel.announced == [
        HubEvent(HubEventKind.SUBSCRIPTION_COUNT, "1", "news", subscription_count=2)
    ]


async def test_the_count_announced_is_the_hubs_when_it_is_sent_not_the_reported_one(
    channel: Channel,
) -> None:
    await channel.grow_to(2)
    channel.counts.changed(APP, "news", 7)  # a stale figure from the caller
    await settle()
    assert channel.announced_counts() == [2]
    assert channel.sockets[0].counts() == [2]


async def test_an_emptied_channel_is_announced_as_zero_with_no_frame_sent(
    channel: Channel,
) -> None:
    await channel.change(1)
    leaver = channel.sockets[0]
    await channel.change(0)
    assert channel.announced_counts() == [1, 0]
    assert leaver.counts() == [1]  # gone before the zero was sent; nobody left to tell


async def test_a_channel_at_exactly_the_threshold_is_not_throttled(
    channel: Channel, clock: LoopClock
) -> None:
    await channel.change(THROTTLE_ABOVE)
    await channel.change(THROTTLE_ABOVE - 1)
    await channel.change(THROTTLE_ABOVE)
    assert channel.announced_counts() == [THROTTLE_ABOVE, THROTTLE_ABOVE - 1, THROTTLE_ABOVE]


# -- big channels ---------------------------------------------------------------------------


async def test_a_big_channels_first_change_is_announced_at_once(channel: Channel) -> None:
    await channel.change(THROTTLE_ABOVE + 1)
    assert channel.announced_counts() == [THROTTLE_ABOVE + 1]


async def test_changes_within_the_interval_become_one_announcement_at_its_end(
    channel: Channel, clock: LoopClock
) -> None:
    big = THROTTLE_ABOVE + 1
    await channel.change(big)
    before = len(channel.announced)
    await clock.advance(1.0)
    await channel.change(big + 1)
    await channel.change(big + 2)
    await clock.advance(2.0)
    await channel.change(big + 3)
    assert len(channel.announced) == before  # held back
    await clock.advance(INTERVAL - 3.0 - 0.01)
    assert len(channel.announced) == before  # still inside the interval
    await clock.advance(0.01)
    assert channel.announced_counts()[before:] == [big + 3]  # one, with the latest count
    assert channel.sockets[0].counts()[-2:] == [big, big + 3]


async def test_after_a_quiet_interval_a_big_channels_change_is_announced_at_once(
    channel: Channel, clock: LoopClock
) -> None:
    big = THROTTLE_ABOVE + 1
    await channel.change(big)
    await clock.advance(INTERVAL)
    before = len(channel.announced)
    await channel.change(big + 1)
    assert channel.announced_counts()[before:] == [big + 1]


async def test_the_interval_restarts_from_the_held_back_announcement(
    channel: Channel, clock: LoopClock
) -> None:
    big = THROTTLE_ABOVE + 1
    await channel.change(big)
    await clock.advance(1.0)
    await channel.change(big + 1)  # held until 5 s after the first
    await clock.advance(INTERVAL - 1.0)
    before = len(channel.announced)
    await clock.advance(1.0)
    await channel.change(big + 2)  # 1 s after the held-back one went: held again
    assert len(channel.announced) == before
    await clock.advance(INTERVAL - 1.0)
    assert channel.announced_counts()[before:] == [big + 2]


async def test_a_held_back_announcement_reads_the_count_when_it_is_sent(
    channel: Channel, clock: LoopClock
) -> None:
    big = THROTTLE_ABOVE + 1
    await channel.change(big)
    await clock.advance(1.0)
    await channel.change(big + 5)
    await channel.shrink_to(big + 2)  # changes nobody reported yet
    await clock.advance(INTERVAL)
    assert channel.announced_counts()[-1] == big + 2


async def test_big_channels_are_throttled_each_on_its_own(
    channel: Channel, clock: LoopClock
) -> None:
    other = Channel(channel.hub, channel.counts, channel.announced, name="sports", node=2)
    big = THROTTLE_ABOVE + 1
    await channel.change(big)
    await clock.advance(1.0)
    await other.change(big)  # first change of its own: not held back by news
    await channel.change(big + 1)  # held back
    assert channel.announced_counts("sports") == [big]
    assert channel.announced_counts("news") == [big]
    await clock.advance(INTERVAL)
    assert channel.announced_counts("news") == [big, big + 1]
    assert channel.announced_counts("sports") == [big]


async def test_a_channel_that_empties_loses_its_throttle_history(
    channel: Channel, clock: LoopClock
) -> None:
    big = THROTTLE_ABOVE + 1
    await channel.change(big)
    await clock.advance(1.0)
    await channel.shrink_to(1)
    await channel.change(0)
    await clock.advance(1.0)
    await channel.grow_to(big)
    before = len(channel.announced)
    channel.counts.changed(APP, "news", big)  # 2 s after the last big announcement
    await settle()
    assert channel.announced_counts()[before:] == [big]


async def test_a_channel_that_only_shrinks_below_the_threshold_keeps_its_throttle_history(
    channel: Channel, clock: LoopClock
) -> None:
    big = THROTTLE_ABOVE + 1
    await channel.change(big)
    await clock.advance(1.0)
    await channel.change(50)
    await channel.grow_to(big)
    before = len(channel.announced)
    channel.counts.changed(APP, "news", big)
    await settle()
    assert len(channel.announced) == before  # held: the last big announcement was 1 s ago
    await clock.advance(INTERVAL - 1.0)
    assert channel.announced_counts()[before:] == [big]
