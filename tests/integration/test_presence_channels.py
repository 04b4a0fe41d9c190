"""Presence channels: who is here, as pusher-js's ``channel.members`` sees it."""

from __future__ import annotations

from collections.abc import Callable

from tests.support.pusher_js import PusherJsClient, PusherJsDriver, unique, wait_until
from tests.support.server import TidingsServer


def member(user_id: str | int, name: str) -> dict[str, object]:
    return {"user_id": user_id, "user_info": {"name": name}}


def test_a_joiner_sees_everyone_already_here_and_is_announced_to_them(
    shared_server: TidingsServer, pusher_js: Callable[..., PusherJsDriver]
) -> None:
    room = unique("presence-room")
    driver = pusher_js(shared_server)
    ada = driver.client("ada", presence=member("u-ada", "Ada"))
    bob = driver.client("bob", presence=member("u-bob", "Bob"))
    joined = ada.subscribe(room)
    assert joined["count"] == 1
    assert joined["me"] == {"id": "u-ada", "info": {"name": "Ada"}}

    snapshot = bob.subscribe(room)

    assert snapshot["count"] == 2
    assert snapshot["members"] == {"u-ada": {"name": "Ada"}, "u-bob": {"name": "Bob"}}
    assert snapshot["me"] == {"id": "u-bob", "info": {"name": "Bob"}}
    added = ada.wait_for(room, "pusher:member_added")
    assert added.data == {"id": "u-bob", "info": {"name": "Bob"}}
    assert ada.members(room)["count"] == 2
    users = driver.rest.users_info(room)["users"]
    assert sorted(user["id"] for user in users) == ["u-ada", "u-bob"]


def watcher_and_ada_on_two_devices(
    driver: PusherJsDriver, room: str
) -> tuple[PusherJsClient, PusherJsClient, PusherJsClient]:
    """Wendy in the room, and Ada's laptop and phone ready to join it as the same user."""
    watcher = driver.client("watcher", presence=member("u-watcher", "Wendy"))
    watcher.subscribe(room)
    laptop = driver.client("laptop", presence=member("u-ada", "Ada"))
    phone = driver.client("phone", presence=member("u-ada", "Ada"))
    return watcher, laptop, phone


def test_a_user_with_two_sockets_counts_once(
    shared_server: TidingsServer, pusher_js: Callable[..., PusherJsDriver]
) -> None:
    room = unique("presence-room")
    driver = pusher_js(shared_server)
    watcher, laptop, phone = watcher_and_ada_on_two_devices(driver, room)

    laptop.subscribe(room)
    watcher.wait_for(room, "pusher:member_added")
    snapshot = phone.subscribe(room)

    assert snapshot["count"] == 2
    assert snapshot["members"] == {"u-watcher": {"name": "Wendy"}, "u-ada": {"name": "Ada"}}
    driver.sync(room, watcher)
    assert len(watcher.events(room, "pusher:member_added")) == 1
    assert watcher.members(room)["count"] == 2
    assert driver.rest.channel_info(room, ["user_count"])["user_count"] == 2


def test_member_removed_comes_only_when_the_users_last_socket_leaves(
    shared_server: TidingsServer, pusher_js: Callable[..., PusherJsDriver]
) -> None:
    room = unique("presence-room")
    driver = pusher_js(shared_server)
    watcher, laptop, phone = watcher_and_ada_on_two_devices(driver, room)
    laptop.subscribe(room)
    phone.subscribe(room)

    laptop.unsubscribe(room)
    laptop.roundtrip()
    driver.sync(room, watcher)
    assert watcher.events(room, "pusher:member_removed") == []
    assert watcher.members(room)["count"] == 2

    phone.disconnect()  # closing the last socket, not unsubscribing

    removed = watcher.wait_for(room, "pusher:member_removed")
    assert removed.data == {"id": "u-ada", "info": {"name": "Ada"}}
    assert watcher.members(room)["count"] == 1


def test_a_numeric_user_id_is_one_member_keyed_by_its_string_form(
    shared_server: TidingsServer, pusher_js: Callable[..., PusherJsDriver]
) -> None:
    room = unique("presence-room")
    driver = pusher_js(shared_server)
    numeric = driver.client("numeric", presence=member(10, "Ten"))
    other = driver.client("other", presence=member("u-other", "Other"))
    other.subscribe(room)

    snapshot = numeric.subscribe(room)

    # pusher-js finds itself in the member hash with the number from its own channel_data.
    assert snapshot["me"] == {"id": 10, "info": {"name": "Ten"}}
    assert snapshot["members"] == {"10": {"name": "Ten"}, "u-other": {"name": "Other"}}
    added = other.wait_for(room, "pusher:member_added")
    assert added.data == {"id": "10", "info": {"name": "Ten"}}
    string_twin = driver.client("string-twin", presence=member("10", "Ten"))
    assert string_twin.subscribe(room)["count"] == 2
    users = driver.rest.users_info(room)["users"]
    assert sorted(user["id"] for user in users) == ["10", "u-other"]


def test_a_full_presence_channel_refuses_a_new_member_but_not_a_known_one(
    make_server: Callable[..., TidingsServer], pusher_js: Callable[..., PusherJsDriver]
) -> None:
    room = unique("presence-room")
    driver = pusher_js(make_server(max_presence_members_per_channel=2))
    ada = driver.client("ada", presence=member("u-ada", "Ada"))
    bob = driver.client("bob", presence=member("u-bob", "Bob"))
    ada.subscribe(room)
    bob.subscribe(room)
    carol = driver.client("carol", presence=member("u-carol", "Carol"))

    carol.subscribe(room, wait=False)

    error = carol.wait_for(room, "pusher:subscription_error")
    assert error.data["type"] == "LimitReached"
    assert error.data["status"] == 4100
    assert carol.state == "connected"
    ada_phone = driver.client("ada-phone", presence=member("u-ada", "Ada"))
    assert ada_phone.subscribe(room)["count"] == 2
    driver.sync(room, ada)
    assert [e.data["id"] for e in ada.events(room, "pusher:member_added")] == ["u-bob"]


def test_when_a_member_leaves_a_full_channel_a_newcomer_gets_in(
    make_server: Callable[..., TidingsServer], pusher_js: Callable[..., PusherJsDriver]
) -> None:
    room = unique("presence-room")
    driver = pusher_js(make_server(max_presence_members_per_channel=1))
    ada = driver.client("ada", presence=member("u-ada", "Ada"))
    bob = driver.client("bob", presence=member("u-bob", "Bob"))
    ada.subscribe(room)
    bob.subscribe(room, wait=False)
    bob.wait_for(room, "pusher:subscription_error")

    ada.disconnect()
    wait_until(lambda: not driver.rest.users_info(room)["users"], "ada has left the room")

    # pusher-js keeps a channel refused by the server pending, so the retry is a new client.
    carol = driver.client("carol", presence=member("u-carol", "Carol"))
    snapshot = carol.subscribe(room)
    assert snapshot["members"] == {"u-carol": {"name": "Carol"}}
