"""Close codes as pusher-js acts on them: reconnect now, retry later, or give up."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.support.pusher_js import PusherJsDriver
from tests.support.server import TidingsServer, in_cluster_run

RECONNECT_NOW = 4200
OVER_CAPACITY = 4100
OVER_CONNECTION_QUOTA = 4004
APP_NOT_FOUND = 4001


def on_the_same_port(old: TidingsServer) -> TidingsServer:
    successor = TidingsServer(old.apps)
    successor.port = old.port
    successor.server_settings["port"] = old.port
    return successor


def test_after_a_server_restart_pusher_js_reconnects_and_resubscribes(
    make_server: Callable[..., TidingsServer], pusher_js: Callable[..., PusherJsDriver]
) -> None:
    """Slow by nature (about 15 s): pusher-js's first retry after 4200 finds the port closed,
    and its next attempt only comes after its fixed 15 s connection-attempt timeout."""
    old = make_server()
    driver = pusher_js(old)
    reader = driver.client("reader")
    reader.subscribe("news")
    first_socket = reader.socket_id

    before = driver.mark()
    old.stop()  # graceful drain: every socket is closed with 4200 "reconnect now"

    reader.wait_error(RECONNECT_NOW, since=before)
    reader.wait_state("connecting", since=before)
    with on_the_same_port(old):
        reader.wait_state("connected", since=before, timeout=40)
        assert "disconnected" not in reader.states()
        assert reader.socket_id != first_socket
        reader.wait_for("news", "pusher:subscription_succeeded", since=before)
        driver.rest.trigger("news", "back-online", {"ok": True})
        assert reader.wait_for("news", "back-online").data == {"ok": True}


@pytest.mark.skipif(
    in_cluster_run(),
    reason="[server] max_connections is per process by design; the app's limit is cluster-wide",
)
def test_a_full_server_makes_pusher_js_retry_until_there_is_room(
    make_server: Callable[..., TidingsServer], pusher_js: Callable[..., PusherJsDriver]
) -> None:
    driver = pusher_js(make_server(server={"max_connections": 1}))
    first = driver.client("first")

    second = driver.client("second", wait_connected=False)

    second.wait_error(OVER_CAPACITY)
    assert second.state != "connected"
    first.disconnect()
    second.wait_state("connected", timeout=10)  # pusher-js retries every second after 4100


def test_an_app_over_its_connection_quota_refuses_and_pusher_js_gives_up(
    make_server: Callable[..., TidingsServer], pusher_js: Callable[..., PusherJsDriver]
) -> None:
    driver = pusher_js(make_server(max_connections=1))
    driver.client("first")

    second = driver.client("second", wait_connected=False)

    second.wait_error(OVER_CONNECTION_QUOTA)
    second.wait_state("disconnected")
    assert "connected" not in second.states()


def test_an_unknown_app_key_is_refused_for_good(
    shared_server: TidingsServer, pusher_js: Callable[..., PusherJsDriver]
) -> None:
    driver = pusher_js(shared_server)

    stranger = driver.client("stranger", key="no-such-key", wait_connected=False)

    error = stranger.wait_error(APP_NOT_FOUND)
    assert "no-such-key" in error["data"]["message"]
    stranger.wait_state("disconnected")
    assert "connected" not in stranger.states()
