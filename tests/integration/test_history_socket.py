"""Channel history over the WebSocket (docs/history.md): serials and epochs on delivered events,
and ``tidings:replay`` bringing back what a client missed while its connection was down.

Wire-level checks use a hand-driven client (pusher-js drops unknown top-level fields before an
application could see them); triggers go through the official Python SDK.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from typing import Any

import pusher
import pytest

from tests.support.pusher_js import PusherJsDriver, unique
from tests.support.raw_client import RawClient, sdk_for
from tests.support.server import AppSpec, TidingsServer

call = asyncio.to_thread  # the SDK blocks; keep the event loop reading frames meanwhile
HISTORY = [
    {"channels": "agent-*", "max_events": 5, "ttl": 3600},
    {"channels": "private-agent-*", "max_events": 5, "ttl": 3600},
]
SETTINGS = {"history": HISTORY, "enable_client_events": True}


@pytest.fixture(scope="module")
def server() -> Iterator[TidingsServer]:
    with TidingsServer([AppSpec(settings=SETTINGS)]) as started:
        yield started


@pytest.fixture(scope="module")
def sdk(server: TidingsServer) -> pusher.Pusher:
    return sdk_for(server)


async def trigger(sdk: pusher.Pusher, channel: str, *numbers: int) -> None:
    for n in numbers:
        await call(sdk.trigger, channel, "agent-message", {"n": n})


async def events(client: RawClient, count: int) -> list[dict[str, Any]]:
    return [await client.expect("agent-message") for _ in range(count)]


async def replay(client: RawClient, channel: str, **data: Any) -> list[dict[str, Any]]:
    """Send tidings:replay; every frame up to and including tidings:replay_done."""
    await client.send("tidings:replay", data, channel)
    frames = []
    while True:
        frame = await client.recv()
        frames.append(frame)
        if frame["event"] == "tidings:replay_done":
            return frames


def numbers(frames: list[dict[str, Any]]) -> list[int]:
    return [json.loads(f["data"])["n"] for f in frames if f["event"] == "agent-message"]


def done(frames: list[dict[str, Any]]) -> dict[str, Any]:
    assert frames[-1]["event"] == "tidings:replay_done"
    return json.loads(frames[-1]["data"])  # type: ignore[no-any-return]


async def test_every_subscriber_gets_the_same_serial_and_epoch_on_a_history_channel(
    server: TidingsServer, sdk: pusher.Pusher
) -> None:
    channel = unique("agent")
    async with await RawClient.connect(server) as one, await RawClient.connect(server) as two:
        for client in (one, two):
            await client.subscribe(channel)
        await trigger(sdk, channel, 1, 2)
        first, second = await events(one, 2), await events(two, 2)
    assert first == second
    assert [f["serial"] for f in first] == [1, 2]
    assert first[0]["epoch"] == first[1]["epoch"] and isinstance(first[0]["epoch"], str)
    assert json.loads(first[0]["data"]) == {"n": 1}  # data relayed exactly as ever


async def test_channels_without_history_are_delivered_as_before(
    server: TidingsServer, sdk: pusher.Pusher
) -> None:
    channel = unique("news")
    async with await RawClient.connect(server) as client:
        succeeded = await client.subscribe(channel)
        await call(sdk.trigger, channel, "headline", {"n": 1})
        frame = await client.expect("headline")
    assert set(frame) == {"event", "channel", "data"}
    assert set(succeeded) == {"event", "channel", "data"}


async def test_subscription_succeeded_says_where_the_history_stands(
    server: TidingsServer, sdk: pusher.Pusher
) -> None:
    channel = unique("agent")
    async with await RawClient.connect(server) as early:
        empty = await early.subscribe(channel)
        await trigger(sdk, channel, 1, 2, 3)
        (*_, last) = await events(early, 3)
        async with await RawClient.connect(server) as late:
            joined = await late.subscribe(channel)
    assert (empty["serial"], empty["epoch"]) == (0, last["epoch"])
    assert (joined["serial"], joined["epoch"]) == (3, last["epoch"])


async def test_a_client_that_lost_its_connection_replays_exactly_what_it_missed(
    server: TidingsServer, sdk: pusher.Pusher
) -> None:
    channel = unique("agent")
    async with await RawClient.connect(server) as listener:
        await listener.subscribe(channel)
        phone = await RawClient.connect(server)
        await phone.subscribe(channel)
        await trigger(sdk, channel, 1, 2)
        seen = (await events(phone, 2))[-1]
        await events(listener, 2)
        await phone.vanish()  # leaves coverage
        await trigger(sdk, channel, 3, 4)
        await events(listener, 2)  # delivered (and kept) while the phone was away

    async with await RawClient.connect(server) as back:
        await back.subscribe(channel)
        frames = await replay(back, channel, after=seen["serial"], epoch=seen["epoch"])
    assert numbers(frames) == [3, 4]
    assert [f["serial"] for f in frames[:-1]] == [3, 4]
    assert done(frames) == {"epoch": seen["epoch"], "last": 4, "complete": True}
    assert frames[-1]["channel"] == channel


async def test_a_replay_past_what_is_kept_says_it_is_incomplete(
    server: TidingsServer, sdk: pusher.Pusher
) -> None:
    channel = unique("agent")
    async with await RawClient.connect(server) as client:
        await client.subscribe(channel)
        await trigger(sdk, channel, *range(1, 9))  # max_events is 5: 1-3 are gone
        await events(client, 8)
        frames = await replay(client, channel, after=1)
        assert numbers(frames) == [4, 5, 6, 7, 8]
        assert done(frames)["complete"] is False
        assert done(await replay(client, channel, after=3))["complete"] is True
        wrong_epoch = await replay(client, channel, after=7, epoch="an-earlier-life")
    assert numbers(wrong_epoch) == [4, 5, 6, 7, 8]
    assert done(wrong_epoch)["complete"] is False


async def test_replay_needs_a_subscription_to_a_history_channel(server: TidingsServer) -> None:
    channel = unique("agent")
    async with await RawClient.connect(server) as client:
        await client.send("tidings:replay", {"after": 0}, channel)
        refused = await client.expect("pusher:error")
        assert refused["data"]["code"] == 4303
        assert "subscribe to the channel first" in refused["data"]["message"]

        news = unique("news")
        await client.subscribe(news)
        await client.send("tidings:replay", {"after": 0}, news)
        refused = await client.expect("pusher:error")
        assert "keeps no history" in refused["data"]["message"]
        await client.subscribe(channel)  # the connection is still fine
        frames = await replay(client, channel, after=0)
    assert done(frames)["complete"] is True


async def test_client_events_are_kept_but_never_replayed_to_their_sender(
    server: TidingsServer, sdk: pusher.Pusher
) -> None:
    channel = unique("private-agent")
    async with await RawClient.connect(server) as author, await RawClient.connect(server) as reader:
        for client in (author, reader):
            await client.subscribe(channel, sdk)
        await author.send("client-typing", {"who": "me"}, channel)
        typed = await reader.expect("client-typing")
        assert typed["serial"] == 1 and "epoch" in typed
        own = await replay(author, channel, after=0)
        other = await replay(reader, channel, after=0)
    assert [f["event"] for f in own] == ["tidings:replay_done"]
    assert [f["event"] for f in other] == ["client-typing", "tidings:replay_done"]
    assert other[0] == typed


def on_the_same_port(old: TidingsServer) -> TidingsServer:
    successor = TidingsServer(old.apps)
    successor.port = old.port
    successor.server_settings["port"] = old.port
    return successor


async def test_after_a_restart_in_memory_mode_the_epoch_is_new_and_nothing_is_complete(
    make_server: Callable[..., TidingsServer],
) -> None:
    old = make_server(**SETTINGS)
    channel = unique("agent")
    async with await RawClient.connect(old) as client:
        await client.subscribe(channel)
        await trigger(sdk_for(old), channel, 1)
        before = (await events(client, 1))[0]
    old.stop()
    with on_the_same_port(old) as restarted:
        async with await RawClient.connect(restarted) as client:
            succeeded = await client.subscribe(channel)
            frames = await replay(client, channel, after=before["serial"], epoch=before["epoch"])
    assert succeeded["epoch"] != before["epoch"]
    assert done(frames) == {"epoch": succeeded["epoch"], "last": 0, "complete": False}


def test_pusher_js_hands_history_events_to_bindings_unchanged(
    server: TidingsServer, pusher_js: Callable[..., PusherJsDriver]
) -> None:
    driver = pusher_js(server)
    reader = driver.client("reader")
    channel = unique("agent")
    reader.subscribe(channel)
    reader.bind(channel, "agent-message")
    driver.rest.trigger(channel, "agent-message", {"n": 1})
    event = reader.wait_for(channel, "agent-message")
    assert (event.data, event.metadata) == ({"n": 1}, {})
    assert driver.node_sdk("trigger", channel, "agent-message", {"n": 2}).status == 200
    assert reader.wait_for(channel, "agent-message", where=lambda e: e.data == {"n": 2})
    assert reader.errors() == []
