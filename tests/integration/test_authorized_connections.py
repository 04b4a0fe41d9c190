"""Authorized connections: with ``enable_user_authentication`` a socket must sign in (or hold a
private channel) within ``user_authentication_timeout``, or it is closed with 4009."""

from __future__ import annotations

from collections.abc import Callable

from tests.support.pusher_js import PusherJsDriver
from tests.support.server import TidingsServer

UNAUTHORIZED = 4009


def strict_server(make_server: Callable[..., TidingsServer]) -> TidingsServer:
    # A short activity_timeout makes the server's sweeper look often enough to act in time.
    return make_server(
        server={"activity_timeout": 2},
        enable_user_authentication=True,
        user_authentication_timeout=1,
    )


def test_an_anonymous_socket_is_cut_off_while_signed_in_and_private_ones_stay(
    make_server: Callable[..., TidingsServer], pusher_js: Callable[..., PusherJsDriver]
) -> None:
    driver = pusher_js(strict_server(make_server))
    # The two that behave connect first, so their deadline has passed before the anonymous one's.
    signed_in = driver.client("signed-in", user={"id": "u-ada"})
    signed_in.signin()
    private = driver.client("private")
    private.subscribe("private-account")
    anonymous = driver.client("anonymous")
    anonymous.subscribe("public-news")

    error = anonymous.wait_error(UNAUTHORIZED, timeout=10)

    assert "not authorized" in error["data"]["message"]
    anonymous.wait_state("disconnected")
    signed_in.roundtrip()
    driver.sync("private-account", private)
    assert signed_in.state == "connected"
    assert private.state == "connected"
    assert signed_in.errors() == [] and private.errors() == []
