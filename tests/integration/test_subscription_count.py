"""Subscription counts: ``pusher:subscription_count`` and ``channel.subscriptionCount``."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

from tests.support.pusher_js import Event, PusherJsClient, PusherJsDriver
from tests.support.server import TidingsServer

COUNT = "pusher:subscription_count"


def counted(n: int) -> Callable[[Event], bool]:
    return lambda event: event.data == {"subscription_count": n}


def count_of(client: PusherJsClient, channel: str) -> int | None:
    state = client.channel_state(channel)
    assert state is not None
    return state["subscriptionCount"]  # type: ignore[no-any-return]


@pytest.mark.parametrize("prefix", ["stream-", "private-stream-"])
def test_subscribers_follow_the_count_as_people_come_and_go(
    prefix: str, shared_server: TidingsServer, pusher_js: Callable[..., PusherJsDriver]
) -> None:
    driver = pusher_js(shared_server)
    channel = f"{prefix}{uuid.uuid4().hex[:8]}"
    first, second, third = driver.client("first"), driver.client("second"), driver.client("third")

    first.subscribe(channel)
    first.wait_for(channel, COUNT, where=counted(1))
    second.subscribe(channel)
    third.subscribe(channel)
    for each in (first, second, third):
        each.wait_for(channel, COUNT, where=counted(3))
        assert count_of(each, channel) == 3

    before = driver.mark()
    third.unsubscribe(channel)
    second.disconnect()

    first.wait_for(channel, COUNT, where=counted(1), since=before)
    assert count_of(first, channel) == 1


def test_presence_channels_have_no_subscription_count(
    shared_server: TidingsServer, pusher_js: Callable[..., PusherJsDriver]
) -> None:
    driver = pusher_js(shared_server)
    ada = driver.client("ada", presence={"user_id": "u-ada"})
    bob = driver.client("bob", presence={"user_id": "u-bob"})
    ada.subscribe("presence-counted")
    bob.subscribe("presence-counted")

    ada.wait_for("presence-counted", "pusher:member_added")
    driver.sync("presence-counted", ada, bob)

    assert ada.events("presence-counted", COUNT) == []
    assert bob.events("presence-counted", COUNT) == []


def test_no_counts_unless_the_app_enables_them(
    make_server: Callable[..., TidingsServer], pusher_js: Callable[..., PusherJsDriver]
) -> None:
    driver = pusher_js(make_server(enable_subscription_count=False))
    first, second = driver.client(), driver.client()
    first.subscribe("quiet")
    second.subscribe("quiet")

    driver.sync("quiet", first, second)

    assert first.events("quiet", COUNT) == []
    assert count_of(first, "quiet") is None
