"""Presence channels: who is here, as pusher-js's ``channel.members`` sees it."""

from __future__ import annotations

from collections.abc import Callable

from tests.support.pusher_js import PusherJsDriver, wait_until
from tests.support.server import TidingsServer

ROOM = "presence-room-1"


def member(user_id: str | int, name: str) -> dict[str, object]:
    return {"user_id": user_id, "user_info": {"name": name}}


def test_a_joiner_sees_everyone_already_here_and_is_announced_to_them(
    shared_server: TidingsServer, pusher_js: Callable[..., PusherJsDriver]
) -> None:
    driver = pusher_js(shared_server)
    ada = driver.client("ada", presence=member("u-ada", "Ada"))
    bob = driver.client("bob", presence=member("u-bob", "Bob"))
    joined = ada.subscribe(ROOM)
    assert joined["count"] == 1
    assert joined["me"] == {"id": "u-ada", "info": {"name": "Ada"}}

    snapshot = bob.subscribe(ROOM)

    assert snapshot["count"] == 2
    assert snapshot["members"] == {"u-ada": {"name": "Ada"}, "u-bob": {"name": "Bob"}}
    assert snapshot["me"] == {"id": "u-bob", "info": {"name": "Bob"}}
    added = ada.wait_for(ROOM, "pusher:member_added")
    assert added.data == {"id": "u-bob", "info": {"name": "Bob"}}
    assert ada.members(ROOM)["count"] == 2
    users = driver.rest.users_info(ROOM)["users"]
    assert sorted(user["id"] for user in users) == ["u-ada", "u-bob"]


def test_a_user_with_two_sockets_counts_once(
    shared_server: TidingsServer, pusher_js: Callable[..., PusherJsDriver]
) -> None:
    driver = pusher_js(shared_server)
    watcher = driver.client("watcher", presence=member("u-watcher", "Wendy"))
    watcher.subscribe(ROOM)
    laptop = driver.client("laptop", presence=member("u-ada", "Ada"))
    phone = driver.client("phone", presence=member("u-ada", "Ada"))

    laptop.subscribe(ROOM)
    watcher.wait_for(ROOM, "pusher:member_added")
    snapshot = phone.subscribe(ROOM)

    assert snapshot["count"] == 2
    assert snapshot["members"] == {"u-watcher": {"name": "Wendy"}, "u-ada": {"name": "Ada"}}
    driver.sync(ROOM, watcher)
    assert len(watcher.events(ROOM, "pusher:member_added")) == 1
    assert watcher.members(ROOM)["count"] == 2
    assert driver.rest.channel_info(ROOM, ["user_count"])["user_count"] == 2


def test_member_removed_comes_only_when_the_users_last_socket_leaves(
    shared_server: TidingsServer, pusher_js: Callable[..., PusherJsDriver]
) -> None:
    driver = pusher_js(shared_server)
    watcher = driver.client("watcher", presence=member("u-watcher", "Wendy"))
    watcher.subscribe(ROOM)
    laptop = driver.client("laptop", presence=member("u-ada", "Ada"))
    phone = driver.client("phone", presence=member("u-ada", "Ada"))
    laptop.subscribe(ROOM)
    phone.subscribe(ROOM)

    laptop.unsubscribe(ROOM)
    laptop.roundtrip()
    driver.sync(ROOM, watcher)
    assert watcher.events(ROOM, "pusher:member_removed") == []
    assert watcher.members(ROOM)["count"] == 2

    phone.disconnect()  # closing the last socket, not unsubscribing

    removed = watcher.wait_for(ROOM, "pusher:member_removed")
    assert removed.data == {"id": "u-ada", "info": {"name": "Ada"}}
    assert watcher.members(ROOM)["count"] == 1


def test_a_numeric_user_id_is_one_member_keyed_by_its_string_form(
    shared_server: TidingsServer, pusher_js: Callable[..., PusherJsDriver]
) -> None:
    driver = pusher_js(shared_server)
    numeric = driver.client("numeric", presence=member(10, "Ten"))
    other = driver.client("other", presence=member("u-other", "Other"))
    other.subscribe(ROOM)

    snapshot = numeric.subscribe(ROOM)

    # pusher-js finds itself in the member hash with the number from its own channel_data.
    assert snapshot["me"] == {"id": 10, "info": {"name": "Ten"}}
    assert snapshot["members"] == {"10": {"name": "Ten"}, "u-other": {"name": "Other"}}
    added = other.wait_for(ROOM, "pusher:member_added")
    assert added.data == {"id": "10", "info": {"name": "Ten"}}
    string_twin = driver.client("string-twin", presence=member("10", "Ten"))
    assert string_twin.subscribe(ROOM)["count"] == 2
    users = driver.rest.users_info(ROOM)["users"]
    assert sorted(user["id"] for user in users) == ["10", "u-other"]


def test_a_full_presence_channel_refuses_a_new_member_but_not_a_known_one(
    make_server: Callable[..., TidingsServer], pusher_js: Callable[..., PusherJsDriver]
) -> None:
    driver = pusher_js(make_server(max_presence_members_per_channel=2))
    ada = driver.client("ada", presence=member("u-ada", "Ada"))
    bob = driver.client("bob", presence=member("u-bob", "Bob"))
    ada.subscribe(ROOM)
    bob.subscribe(ROOM)
    carol = driver.client("carol", presence=member("u-carol", "Carol"))

    carol.subscribe(ROOM, wait=False)

    error = carol.wait_for(ROOM, "pusher:subscription_error")
    assert error.data["type"] == "LimitReached"
    assert error.data["status"] == 4100
    assert carol.state == "connected"
    ada_phone = driver.client("ada-phone", presence=member("u-ada", "Ada"))
    assert ada_phone.subscribe(ROOM)["count"] == 2
    driver.sync(ROOM, ada)
    assert [e.data["id"] for e in ada.events(ROOM, "pusher:member_added")] == ["u-bob"]


def test_when_a_member_leaves_a_full_channel_a_newcomer_gets_in(
    make_server: Callable[..., TidingsServer], pusher_js: Callable[..., PusherJsDriver]
) -> None:
    driver = pusher_js(make_server(max_presence_members_per_channel=1))
    ada = driver.client("ada", presence=member("u-ada", "Ada"))
    bob = driver.client("bob", presence=member("u-bob", "Bob"))
    ada.subscribe(ROOM)
    bob.subscribe(ROOM, wait=False)
    bob.wait_for(ROOM, "pusher:subscription_error")

    ada.disconnect()
    wait_until(lambda: not driver.rest.users_info(ROOM)["users"], "ada has left the room")

    # pusher-js keeps a channel refused by the server pending, so the retry is a new client.
    carol = driver.client("carol", presence=member("u-carol", "Carol"))
    snapshot = carol.subscribe(ROOM)
    assert snapshot["members"] == {"u-carol": {"name": "Carol"}}
