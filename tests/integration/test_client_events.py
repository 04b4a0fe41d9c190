"""Client events: pusher-js ``channel.trigger('client-…')`` between browsers, no backend."""

from __future__ import annotations

from collections.abc import Callable

from tests.support.pusher_js import PusherJsDriver
from tests.support.server import TidingsServer

CHAT = "private-chat-1"
ROOM = "presence-room-1"
CLIENT_EVENT_REJECTED = 4301


def test_a_whisper_reaches_the_others_but_not_the_sender(
    shared_server: TidingsServer, pusher_js: Callable[..., PusherJsDriver]
) -> None:
    driver = pusher_js(shared_server)
    sender, first, second = driver.client("sender"), driver.client(), driver.client()
    for each in (sender, first, second):
        each.subscribe(CHAT)

    assert sender.trigger(CHAT, "client-typing", {"typing": True})

    assert first.wait_for(CHAT, "client-typing").data == {"typing": True}
    assert second.wait_for(CHAT, "client-typing").data == {"typing": True}
    driver.sync(CHAT, sender)
    assert sender.events(CHAT, "client-typing") == []
    assert sender.errors() == []


def test_on_a_presence_channel_the_receiver_learns_who_sent_it(
    shared_server: TidingsServer, pusher_js: Callable[..., PusherJsDriver]
) -> None:
    driver = pusher_js(shared_server)
    ada = driver.client("ada", presence={"user_id": "u-ada", "user_info": {"name": "Ada"}})
    bob = driver.client("bob", presence={"user_id": "u-bob", "user_info": {"name": "Bob"}})
    ada.subscribe(ROOM)
    bob.subscribe(ROOM)
    bob.bind(ROOM, "client-wave")

    ada.trigger(ROOM, "client-wave", {"hand": "left"})

    event = bob.wait_for(ROOM, "client-wave")
    assert event.data == {"hand": "left"}
    assert event.metadata == {"user_id": "u-ada"}


def test_on_a_private_channel_there_is_no_sender_id(
    shared_server: TidingsServer, pusher_js: Callable[..., PusherJsDriver]
) -> None:
    driver = pusher_js(shared_server)
    sender, receiver = driver.client(), driver.client()
    sender.subscribe(CHAT)
    receiver.subscribe(CHAT)
    receiver.bind(CHAT, "client-ping")

    sender.trigger(CHAT, "client-ping", "ping")

    event = receiver.wait_for(CHAT, "client-ping")
    assert event.data == "ping"
    assert event.metadata == {}


def test_client_events_on_a_public_channel_are_refused_with_4301(
    shared_server: TidingsServer, pusher_js: Callable[..., PusherJsDriver]
) -> None:
    driver = pusher_js(shared_server)
    sender, listener = driver.client("sender"), driver.client("listener")
    sender.subscribe("lobby")
    listener.subscribe("lobby")

    sender.trigger("lobby", "client-shout", {"loud": True})

    error = sender.wait_error(CLIENT_EVENT_REJECTED)
    assert "private and presence" in error["data"]["message"]
    assert sender.state == "connected"
    driver.sync("lobby", listener)
    assert listener.events("lobby", "client-shout") == []


def test_client_events_are_refused_when_the_app_has_them_disabled(
    make_server: Callable[..., TidingsServer], pusher_js: Callable[..., PusherJsDriver]
) -> None:
    driver = pusher_js(make_server(enable_client_events=False))
    sender, listener = driver.client("sender"), driver.client("listener")
    sender.subscribe(CHAT)
    listener.subscribe(CHAT)

    sender.trigger(CHAT, "client-typing", {"typing": True})

    error = sender.wait_error(CLIENT_EVENT_REJECTED)
    assert "not have client events enabled" in error["data"]["message"]
    driver.sync(CHAT, listener)
    assert listener.events(CHAT, "client-typing") == []
    assert sender.state == "connected"


def test_a_burst_over_the_rate_limit_is_cut_off_with_4301(
    make_server: Callable[..., TidingsServer], pusher_js: Callable[..., PusherJsDriver]
) -> None:
    driver = pusher_js(make_server(enable_client_events=True, max_client_events_per_sec=2))
    sender, listener = driver.client("sender"), driver.client("listener")
    sender.subscribe(CHAT)
    listener.subscribe(CHAT)

    sent = sender.trigger_burst(CHAT, "client-move", [{"step": n} for n in range(6)])

    assert sent == [True] * 6  # pusher-js itself sends them all
    sender.wait_error(CLIENT_EVENT_REJECTED)
    sender.roundtrip()
    driver.sync(CHAT, listener, sender)
    delivered = listener.events(CHAT, "client-move")
    rejected = [e for e in sender.errors() if e["data"]["code"] == CLIENT_EVENT_REJECTED]
    assert 2 <= len(delivered) < 6
    assert len(delivered) + len(rejected) == 6
    assert [e.data for e in delivered] == [{"step": n} for n in range(len(delivered))]
    assert "rate limit" in rejected[0]["data"]["message"]
    assert sender.state == "connected"


def test_a_client_refused_by_the_channel_cannot_whisper_into_it(
    shared_server: TidingsServer, pusher_js: Callable[..., PusherJsDriver]
) -> None:
    driver = pusher_js(shared_server)
    member = driver.client("member")
    intruder = driver.client("intruder", secret="not-the-app-secret")
    member.subscribe(CHAT)
    intruder.subscribe(CHAT, wait=False)
    intruder.wait_for(CHAT, "pusher:subscription_error")

    # pusher-js still holds the refused channel and lets the app trigger on it.
    intruder.trigger(CHAT, "client-sneak", {"x": 1})

    error = intruder.wait_error(CLIENT_EVENT_REJECTED)
    assert "not subscribed" in error["data"]["message"]
    driver.sync(CHAT, member)
    assert member.events(CHAT, "client-sneak") == []
