"""Channel history on three nodes sharing one redis-server: one serial order everywhere, the
same history from any node, and a pusher-js client whose reconnect lands on another node still
gets exactly what it missed, once, in order."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pusher
import pytest
from pusher.http import GET, Request

from tests.cluster.conftest import call, start_nodes
from tests.support.cut_proxy import CutProxy
from tests.support.pusher_js import PusherJsDriver, unique
from tests.support.raw_client import RawClient, sdk_for
from tests.support.redis_server import RedisServer
from tests.support.server import AppSpec, TidingsServer

APP = AppSpec(settings={"history": [{"channels": "agent-*", "max_events": 100, "ttl": 3600}]})
EVENT = "agent-message"


@pytest.fixture(scope="module")
def nodes(redis_server: RedisServer) -> Iterator[list[TidingsServer]]:
    started = start_nodes(redis_server, APP)
    yield started
    for node in started:
        node.stop()


def history(node: TidingsServer, channel: str, **params: Any) -> Any:
    client = sdk_for(node)._pusher_client
    path = f"/apps/{client.app_id}/channels/{channel}/events"
    request = Request(client, GET, path, {k: str(v) for k, v in params.items()})
    return client.http.send_request(request)


async def test_every_node_delivers_the_same_serials_in_the_same_order(
    nodes: list[TidingsServer],
) -> None:
    channel = unique("agent")
    clients = [await RawClient.connect(node) for node in nodes]
    try:
        for client in clients:
            await client.subscribe(channel)
        sdks = [sdk_for(node) for node in nodes]

        async def send(sdk: pusher.Pusher, n: int) -> None:
            await call(sdk.trigger, channel, EVENT, {"n": n})

        await asyncio.gather(*(send(sdks[n % 3], n) for n in range(12)))
        seen = [[await client.expect(EVENT) for _ in range(12)] for client in clients]
    finally:
        for client in clients:
            await client.close()
    assert seen[0] == seen[1] == seen[2]  # same frames, same order, on A, B and C
    assert [frame["serial"] for frame in seen[0]] == list(range(1, 13))
    pages = [history(node, channel) for node in nodes]
    assert pages[0] == pages[1] == pages[2]
    assert [e["serial"] for e in pages[0]["events"]] == list(range(1, 13))
    assert pages[0]["epoch"] == seen[0][0]["epoch"]


def test_a_reconnect_on_another_node_gets_exactly_the_missed_events(
    nodes: list[TidingsServer],
) -> None:
    a, b, c = nodes
    with CutProxy(a.port) as proxy, PusherJsDriver(a) as driver:
        channel = unique("agent")
        options = {"wsPort": proxy.port}
        phone = driver.client("phone", options=options, recovery={})
        plain = driver.client("plain", options=options)
        for client in (phone, plain):
            client.subscribe(channel)
            client.bind(channel, EVENT)
        sdk_for(b).trigger(channel, EVENT, {"n": 1})
        for client in (phone, plain):
            client.wait_for(channel, EVENT, where=lambda e: e.data == {"n": 1})

        before = driver.mark()
        proxy.cut()
        for n in (2, 3, 4):
            sdk_for(c).trigger(channel, EVENT, {"n": n})
        proxy.retarget(b.port)  # the network comes back by way of node B
        proxy.restore()
        for client in (phone, plain):
            client.wait_for(channel, "pusher:subscription_succeeded", since=before, timeout=15)
        phone.wait_for(channel, EVENT, where=lambda e: e.data == {"n": 4})
        sdk_for(a).trigger(channel, EVENT, {"n": 5})
        driver.sync(channel, phone, plain)

    def numbers(client: Any) -> list[int]:
        return [event.data["n"] for event in client.events(channel, EVENT)]

    assert numbers(phone) == [1, 2, 3, 4, 5]
    assert numbers(plain) == [1, 5]
    done = phone.events(channel, "tidings:replay_done")
    assert [event.data["complete"] for event in done] == [True]


def test_a_stream_through_a_cut_and_a_move_to_another_node_arrives_whole(
    nodes: list[TidingsServer],
) -> None:
    """Triggers on all three nodes never pause; the client drops off A and comes back on C
    while they go on, so replayed and live events overlap: each arrives once, in order."""
    a, _, c = nodes
    sdks = [sdk_for(node) for node in nodes]
    channel = unique("agent")
    total = 200
    cut, halfway, restored = threading.Event(), threading.Event(), threading.Event()

    def stream() -> None:
        for n in range(1, total + 1):
            sdks[n % 3].trigger(channel, EVENT, {"n": n})
            if n == 10:
                cut.wait(10)
            if n == 60:
                halfway.set()
                restored.wait(10)

    with CutProxy(a.port) as proxy, PusherJsDriver(a) as driver:
        phone = driver.client("phone", options={"wsPort": proxy.port}, recovery={})
        phone.subscribe(channel)
        phone.bind(channel, EVENT)
        sender = threading.Thread(target=stream)
        sender.start()
        try:
            phone.wait_for(channel, EVENT, where=lambda e: e.data["n"] >= 5)
            before = driver.mark()
            proxy.cut()
            cut.set()
            phone.wait_state("connecting", since=before)
            assert halfway.wait(10)
            proxy.retarget(c.port)
            proxy.restore()
            restored.set()
            phone.wait_for(channel, EVENT, where=lambda e: e.data["n"] == total, timeout=20)
        finally:
            restored.set()
            cut.set()
            sender.join(30)
        driver.sync(channel, phone)
        numbers = [event.data["n"] for event in phone.events(channel, EVENT)]
    assert numbers == list(range(1, total + 1))
