"""User sign-in: ``pusher.signin()`` with the Node SDK's ``authenticateUser``, then
server-to-user events, terminating a user's connections, and watchlists."""

from __future__ import annotations

from collections.abc import Callable

from tests.support.pusher_js import PusherJsDriver, unique, wait_until
from tests.support.server import TidingsServer

UNAUTHORIZED = 4009


def user(user_id: str, name: str, watchlist: list[str] | None = None) -> dict[str, object]:
    data: dict[str, object] = {"id": user_id, "user_info": {"name": name}}
    if watchlist is not None:
        data["watchlist"] = watchlist
    return data


def test_signing_in_confirms_the_user(
    shared_server: TidingsServer, pusher_js: Callable[..., PusherJsDriver]
) -> None:
    driver = pusher_js(shared_server)
    ada = driver.client("ada", user=user("u-ada", "Ada"))

    signed_in = ada.signin()

    assert signed_in == {"id": "u-ada", "user_info": {"name": "Ada"}}
    assert ada.errors() == []


def test_a_bad_signature_is_refused_and_the_connection_stays(
    shared_server: TidingsServer, pusher_js: Callable[..., PusherJsDriver]
) -> None:
    driver = pusher_js(shared_server)
    mallory = driver.client("mallory", user=user("u-ada", "Ada"), secret="not-the-app-secret")

    mallory.signin(wait=False)

    error = mallory.wait_error(UNAUTHORIZED)
    assert "Invalid signature" in error["data"]["message"]
    assert mallory.state == "connected"
    driver.node_sdk("sendToUser", "u-ada", "secret-note", {"for": "ada only"})
    mallory.roundtrip()
    assert mallory.user_events("secret-note") == []


def test_send_to_user_reaches_every_socket_of_that_user_and_nobody_else(
    shared_server: TidingsServer, pusher_js: Callable[..., PusherJsDriver]
) -> None:
    driver = pusher_js(shared_server)
    laptop = driver.client("laptop", user=user("u-ada", "Ada"))
    phone = driver.client("phone", user=user("u-ada", "Ada"))
    bob = driver.client("bob", user=user("u-bob", "Bob"))
    for each in (laptop, phone, bob):
        each.signin()

    response = driver.node_sdk("sendToUser", "u-ada", "invoice-ready", {"invoice": 9})

    assert response.status == 200
    assert laptop.wait_user_event("invoice-ready") == {"invoice": 9}
    assert phone.wait_user_event("invoice-ready") == {"invoice": 9}
    driver.node_sdk("sendToUser", "u-bob", "marker", {})
    bob.wait_user_event("marker")
    assert bob.user_events("invoice-ready") == []


def test_terminating_a_user_disconnects_its_sockets_for_good(
    shared_server: TidingsServer, pusher_js: Callable[..., PusherJsDriver]
) -> None:
    driver = pusher_js(shared_server)
    laptop = driver.client("laptop", user=user("u-ada", "Ada"))
    phone = driver.client("phone", user=user("u-ada", "Ada"))
    bob = driver.client("bob", user=user("u-bob", "Bob"))
    for each in (laptop, phone, bob):
        each.signin()

    response = driver.node_sdk("terminateUserConnections", "u-ada")

    assert response.status == 200
    for socket in (laptop, phone):
        socket.wait_error(UNAUTHORIZED)
        socket.wait_state("disconnected")
    # A 4009 close means "refused": pusher-js must not reconnect. It decides when the close
    # arrives: a retry would be a pending timer (1 s for a backoff code), refused clears it.
    for socket in (laptop, phone):
        connection = socket.connection()
        assert (connection["state"], connection["retry_scheduled"]) == ("disconnected", False)
        assert socket.states()[-1] == "disconnected"
    assert bob.state == "connected"
    driver.node_sdk("sendToUser", "u-bob", "still-here", {})
    bob.wait_user_event("still-here")


def test_terminating_a_user_spares_sockets_that_never_signed_in(
    shared_server: TidingsServer, pusher_js: Callable[..., PusherJsDriver]
) -> None:
    driver = pusher_js(shared_server)
    signed_in = driver.client("signed-in", user=user("u-ada", "Ada"))
    signed_in.signin()
    presence_only = driver.client("presence-only", presence={"user_id": "u-ada"})
    presence_only.subscribe("presence-team")

    driver.rest.terminate_user_connections("u-ada")  # this time through the Python SDK

    signed_in.wait_state("disconnected")
    driver.sync("presence-team", presence_only)
    assert presence_only.state == "connected"


def test_a_signed_in_user_joins_presence_as_itself_without_channel_data(
    shared_server: TidingsServer, pusher_js: Callable[..., PusherJsDriver]
) -> None:
    """The auth endpoint may skip channel_data: the server uses the signed-in user."""
    driver = pusher_js(shared_server)
    ada = driver.client("ada", user=user("u-ada", "Ada"))  # no presence data to sign
    ada.signin()

    joined = ada.subscribe("presence-signed-in")

    assert joined["me"] == {"id": "u-ada", "info": {"name": "Ada"}}
    assert joined["members"] == {"u-ada": {"name": "Ada"}}


def test_the_watchlist_reports_who_is_online_and_every_change(
    shared_server: TidingsServer, pusher_js: Callable[..., PusherJsDriver]
) -> None:
    driver = pusher_js(shared_server)
    bob_id, carol_id = unique("u-bob"), unique("u-carol")
    bob = driver.client("bob", user=user(bob_id, "Bob"))
    bob.signin()
    ada = driver.client("ada", user=user("u-ada", "Ada", watchlist=[bob_id, carol_id]))

    ada.signin()

    ada.wait_watchlist("online", bob_id)
    ada.wait_watchlist("offline", carol_id)
    carol = driver.client("carol", user=user(carol_id, "Carol"))
    carol.signin()
    ada.wait_watchlist("online", carol_id)
    bob.disconnect()
    ada.wait_watchlist("offline", bob_id)
    assert ada.watchlist() == [
        ("online", [bob_id]),
        ("offline", [carol_id]),
        ("online", [carol_id]),
        ("offline", [bob_id]),
    ]


def test_a_user_with_two_sockets_stays_online_until_the_last_one_goes(
    shared_server: TidingsServer, pusher_js: Callable[..., PusherJsDriver]
) -> None:
    driver = pusher_js(shared_server)
    bob_id, inbox, laptop_channel = unique("u-bob"), unique("ada-inbox"), unique("bob-laptop")
    ada = driver.client("ada", user=user("u-ada", "Ada", watchlist=[bob_id]))
    ada.signin()
    ada.subscribe(inbox)
    laptop = driver.client("laptop", user=user(bob_id, "Bob"))
    phone = driver.client("phone", user=user(bob_id, "Bob"))
    laptop.signin()
    ada.wait_watchlist("online", bob_id)
    phone.signin()
    laptop.subscribe(laptop_channel)

    laptop.disconnect()
    # The server forgets a closed socket's channels and sign-in together.
    wait_until(
        lambda: not driver.rest.channel_info(laptop_channel)["occupied"], "the laptop is gone"
    )
    driver.sync(inbox, ada)
    assert ada.watchlist() == [("offline", [bob_id]), ("online", [bob_id])]

    before = driver.mark()
    phone.disconnect()

    ada.wait_watchlist("offline", bob_id, since=before)
    assert ada.watchlist() == [
        ("offline", [bob_id]),
        ("online", [bob_id]),
        ("offline", [bob_id]),
    ]


def test_a_watchlist_over_100_users_is_trimmed_with_a_4302_warning(
    shared_server: TidingsServer, pusher_js: Callable[..., PusherJsDriver]
) -> None:
    driver = pusher_js(shared_server)
    watched = [f"u-{n}" for n in range(101)]
    fan = driver.client("fan", user=user("u-fan", "Fan", watchlist=watched))

    assert fan.signin()["id"] == "u-fan"

    error = fan.wait_error(4302)
    assert "1 ignored" in error["data"]["message"]
    fan.wait_watchlist("offline", "u-99")
    reported = {uid for _, ids in fan.watchlist() for uid in ids}
    assert reported == set(watched[:100])
    assert fan.state == "connected"
