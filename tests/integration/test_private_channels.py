"""Private channels: pusher-js authorised by the official Node SDK's ``authorizeChannel``."""

from __future__ import annotations

from collections.abc import Callable

from tests.support.pusher_js import PusherJsDriver
from tests.support.server import TidingsServer


def test_an_authorised_subscriber_receives_private_events(
    shared_server: TidingsServer, pusher_js: Callable[..., PusherJsDriver]
) -> None:
    driver = pusher_js(shared_server)
    customer = driver.client("customer")
    customer.subscribe("private-orders-17")

    driver.rest.trigger("private-orders-17", "order-shipped", {"order": 17})

    assert customer.wait_for("private-orders-17", "order-shipped").data == {"order": 17}
    state = customer.channel_state("private-orders-17")
    assert state is not None and state["subscribed"] is True


def test_a_signature_made_with_the_wrong_secret_fails_on_the_channel(
    shared_server: TidingsServer, pusher_js: Callable[..., PusherJsDriver]
) -> None:
    driver = pusher_js(shared_server)
    intruder = driver.client("intruder", secret="not-the-app-secret")

    intruder.subscribe("private-orders-17", wait=False)

    error = intruder.wait_for("private-orders-17", "pusher:subscription_error")
    assert error.data["type"] == "AuthError"
    assert error.data["status"] == 401
    assert intruder.state == "connected"  # a refused channel does not cost the connection


def test_a_refused_subscriber_gets_no_events_while_others_do(
    shared_server: TidingsServer, pusher_js: Callable[..., PusherJsDriver]
) -> None:
    driver = pusher_js(shared_server)
    customer = driver.client("customer")
    intruder = driver.client("intruder", secret="not-the-app-secret")
    customer.subscribe("private-invoices")
    intruder.subscribe("private-invoices", wait=False)
    intruder.wait_for("private-invoices", "pusher:subscription_error")
    intruder.subscribe("public-lobby")

    driver.rest.trigger(["private-invoices", "public-lobby"], "invoice-paid", {"amount": 10})

    assert customer.wait_for("private-invoices", "invoice-paid").data == {"amount": 10}
    intruder.wait_for("public-lobby", "invoice-paid")
    assert intruder.events("private-invoices", "invoice-paid") == []


def test_an_authorisation_made_for_another_socket_is_refused(
    shared_server: TidingsServer, pusher_js: Callable[..., PusherJsDriver]
) -> None:
    """A leaked auth token is signed correctly, but only for the socket it was made for."""
    driver = pusher_js(shared_server)
    owner, thief = driver.client("owner"), driver.client("thief")
    assert owner.socket_id != thief.socket_id
    token = driver.rest.authenticate(channel="private-vault", socket_id=owner.socket_id)

    thief.subscribe("private-vault", auth=token, wait=False)

    error = thief.wait_for("private-vault", "pusher:subscription_error")
    assert error.data["type"] == "AuthError"
    owner.subscribe("private-vault", auth=token)  # the same token works for its own socket
