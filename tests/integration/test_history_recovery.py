"""tidings' pusher-js add-on in Node: a client whose network is cut while an agent streams its
answer gets every missed event exactly once, in order, through its ordinary bindings; a client
without the add-on sees nothing new (it misses them, as with any Pusher server)."""

from __future__ import annotations

import base64
import os
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.support.cut_proxy import CutProxy
from tests.support.pusher_js import PusherJsClient, PusherJsDriver, unique
from tests.support.server import TidingsServer

HISTORY = {
    "history": [
        {"channels": "agent-*", "max_events": 500, "ttl": 3600},
        {"channels": "presence-agent-*"},
        {"channels": "private-encrypted-agent-*"},
    ]
}
EVENT = "agent-message"


@pytest.fixture
def server(make_server: Callable[..., TidingsServer]) -> TidingsServer:
    return make_server(**HISTORY)


@pytest.fixture
def proxy(server: TidingsServer) -> Iterator[CutProxy]:
    with CutProxy(server.port) as started:
        yield started


def through(proxy: CutProxy) -> dict[str, Any]:
    """pusher-js options for a client whose WebSocket goes through the proxy."""
    return {"wsPort": proxy.port}


def listening(client: PusherJsClient, channel: str) -> PusherJsClient:
    client.subscribe(channel)
    client.bind(channel, EVENT)
    return client


def received(client: PusherJsClient, channel: str) -> list[int]:
    return [event.data["n"] for event in client.events(channel, EVENT)]


def send(driver: PusherJsDriver, channel: str, *numbers: int) -> None:
    for n in numbers:
        driver.rest.trigger(channel, EVENT, {"n": n})


def test_after_a_network_cut_the_add_on_delivers_exactly_the_missed_events_in_order(
    pusher_js: Callable[..., PusherJsDriver], server: TidingsServer, proxy: CutProxy
) -> None:
    driver = pusher_js(server)
    channel = unique("agent")
    phone = listening(driver.client("phone", options=through(proxy), recovery={}), channel)
    plain = listening(driver.client("plain", options=through(proxy)), channel)
    send(driver, channel, 1, 2)
    for client in (phone, plain):
        client.wait_for(channel, EVENT, where=lambda e: e.data == {"n": 2})

    before = driver.mark()
    proxy.cut()
    send(driver, channel, 3, 4, 5)  # kept while both are away
    proxy.restore()
    for client in (phone, plain):
        client.wait_for(channel, "pusher:subscription_succeeded", since=before, timeout=15)
    phone.wait_for(channel, EVENT, where=lambda e: e.data == {"n": 5})
    send(driver, channel, 6)
    driver.sync(channel, phone, plain)

    assert received(phone, channel) == [1, 2, 3, 4, 5, 6]
    assert received(plain, channel) == [1, 2, 6]  # unchanged pusher-js behaviour
    done = phone.events(channel, "tidings:replay_done")
    assert [event.data["complete"] for event in done] == [True]
    assert all(event.metadata == {} for event in phone.events(channel, EVENT))
    for client in (phone, plain):  # the cut itself (1006), and nothing else went wrong
        assert [e["data"] for e in client.errors()] == [{"code": 1006}]


def test_a_reload_resumes_from_the_serial_kept_in_storage(
    pusher_js: Callable[..., PusherJsDriver], server: TidingsServer
) -> None:
    driver = pusher_js(server)
    channel = unique("agent")
    page = listening(driver.client("page", recovery={"storage": "tab"}), channel)
    send(driver, channel, 1, 2)
    page.wait_for(channel, EVENT, where=lambda e: e.data == {"n": 2})
    page.unsubscribe(channel)  # the page cleans up as it unloads, as the guide says to
    page.disconnect()
    send(driver, channel, 3, 4)

    reloaded = listening(driver.client("reloaded", recovery={"storage": "tab"}), channel)
    reloaded.wait_for(channel, EVENT, where=lambda e: e.data == {"n": 4})
    driver.sync(channel, reloaded)
    assert received(reloaded, channel) == [3, 4]
    assert reloaded.position(channel) is not None


def test_from_start_replays_everything_kept_on_the_first_subscription(
    pusher_js: Callable[..., PusherJsDriver], server: TidingsServer
) -> None:
    driver = pusher_js(server)
    channel = unique("agent")
    send(driver, channel, 1, 2, 3)
    late = listening(driver.client("late", recovery={"fromStart": True}), channel)
    late.wait_for(channel, EVENT, where=lambda e: e.data == {"n": 3})
    send(driver, channel, 4)
    driver.sync(channel, late)
    assert received(late, channel) == [1, 2, 3, 4]
    newcomer = listening(driver.client("newcomer", recovery={}), channel)
    driver.sync(channel, newcomer)
    assert received(newcomer, channel) == []  # without fromStart: live events only


def test_after_a_restart_in_memory_mode_the_new_history_is_delivered_and_said_incomplete(
    pusher_js: Callable[..., PusherJsDriver], server: TidingsServer, proxy: CutProxy
) -> None:
    driver = pusher_js(server)
    channel = unique("agent")
    phone = listening(driver.client("phone", options=through(proxy), recovery={}), channel)
    send(driver, channel, 1)
    phone.wait_for(channel, EVENT)
    old_epoch = phone.position(channel)

    before = driver.mark()
    proxy.cut()
    server.stop()
    restarted = TidingsServer(server.apps)
    restarted.port = restarted.server_settings["port"] = server.port
    with restarted:
        send(driver, channel, 2, 3)  # serials 1 and 2 of the new epoch
        proxy.restore()
        phone.wait_for(channel, "tidings:replay_done", since=before, timeout=15)
        driver.sync(channel, phone)
        assert received(phone, channel)[:3] == [1, 2, 3]
        done = phone.events(channel, "tidings:replay_done")[-1]
        assert done.data["complete"] is False
        assert phone.position(channel) != old_epoch


def test_replays_refused_by_the_rate_limit_are_asked_again_and_lose_nothing(
    pusher_js: Callable[..., PusherJsDriver], make_server: Callable[..., TidingsServer]
) -> None:
    server = make_server(max_client_events_per_sec=1, **HISTORY)
    driver = pusher_js(server)
    channels = [unique("agent"), unique("agent"), unique("agent")]
    with CutProxy(server.port) as proxy:
        phone = driver.client("phone", options=through(proxy), recovery={})
        for channel in channels:
            listening(phone, channel)
        for channel in channels:
            send(driver, channel, 1)
            phone.wait_for(channel, EVENT)

        before = driver.mark()
        proxy.cut()
        for channel in channels:
            send(driver, channel, 2, 3)
        proxy.restore()  # three replays at once, one allowed per second
        for channel in channels:
            phone.wait_for(channel, "tidings:replay_done", since=before, timeout=15)
        for channel in channels:
            send(driver, channel, 4)
            driver.sync(channel, phone)
            assert received(phone, channel) == [1, 2, 3, 4]


@pytest.mark.parametrize("kind", ["presence", "private-encrypted"])
def test_presence_and_encrypted_channels_recover_too(
    pusher_js: Callable[..., PusherJsDriver], server: TidingsServer, proxy: CutProxy, kind: str
) -> None:
    """Encrypted: tidings keeps the ciphertext it relayed; pusher-js decrypts the replay."""
    master_key = base64.b64encode(os.urandom(32)).decode()
    driver = pusher_js(server, encryption_master_key_base64=master_key)
    channel = unique(f"{kind}-agent")
    phone = driver.client("phone", options=through(proxy), recovery={}, presence={"user_id": "ada"})
    listening(phone, channel)
    assert driver.node_sdk("trigger", channel, EVENT, {"n": 1}).status == 200
    phone.wait_for(channel, EVENT)

    before = driver.mark()
    proxy.cut()
    for n in (2, 3):
        assert driver.node_sdk("trigger", channel, EVENT, {"n": n}).status == 200
    proxy.restore()
    phone.wait_for(channel, "tidings:replay_done", since=before, timeout=15)
    assert driver.node_sdk("trigger", channel, EVENT, {"n": 4}).status == 200
    phone.wait_for(channel, EVENT, where=lambda e: e.data == {"n": 4})
    assert received(phone, channel) == [1, 2, 3, 4]
    if kind == "presence":
        assert phone.members(channel)["me"]["id"] == "ada"


def test_events_sent_all_through_a_cut_and_the_reconnect_arrive_exactly_once_in_order(
    pusher_js: Callable[..., PusherJsDriver], server: TidingsServer, proxy: CutProxy
) -> None:
    """A steady stream never paused for the client: some events land while it is away, some
    while it resubscribes and replays (live and replayed at once); each is delivered once."""
    driver = pusher_js(server)
    channel = unique("agent")
    phone = listening(driver.client("phone", options=through(proxy), recovery={}), channel)
    cut, halfway, restored = threading.Event(), threading.Event(), threading.Event()
    total = 300

    def stream() -> None:
        for n in range(1, total + 1):
            driver.rest.trigger(channel, EVENT, {"n": n})
            if n == 10:
                cut.wait(10)
            if n == 50:
                halfway.set()
                restored.wait(10)

    sender = threading.Thread(target=stream)
    sender.start()
    try:
        phone.wait_for(channel, EVENT, where=lambda e: e.data["n"] >= 5)
        before = driver.mark()
        proxy.cut()
        cut.set()
        phone.wait_state("connecting", since=before)  # its new attempt waits at the proxy
        assert halfway.wait(10)
        proxy.restore()  # it reconnects and replays while the stream goes on
        restored.set()
        phone.wait_for(channel, EVENT, where=lambda e: e.data["n"] == total, timeout=20)
    finally:
        restored.set()
        sender.join(20)
    driver.sync(channel, phone)
    assert received(phone, channel) == list(range(1, total + 1))
