"""Limits per client address, as a deployment meets them: a client over
``max_connections_per_ip`` or ``max_new_connections_per_ip_per_sec`` gets 4100 and pusher-js
retries until there is room; other addresses are not affected; the count never leaks; behind
a real HAProxy the client's own address counts (PROXY v1/v2, X-Forwarded-For), and only
because that proxy is trusted."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator

import pytest

from tests.support.haproxy import PROXY_SOURCE, HAProxy
from tests.support.pusher_js import PusherJsDriver
from tests.support.raw_client import Closed, RawClient
from tests.support.server import TidingsServer, in_cluster_run

OVER_CAPACITY = 4100
pytestmark = pytest.mark.skipif(
    in_cluster_run(),
    reason="the limits are per process by design: N workers let an address hold N times more",
)


class Via:
    """``server`` reached through another port (a proxy's frontend), same app."""

    def __init__(self, server: TidingsServer, port: int) -> None:
        self.host, self.port, self.app = server.host, port, server.app


async def refused_with(target: object, source: str, **kwargs: object) -> int:
    """Connect from ``source`` expecting a refusal: the error frame's code (the close's too)."""
    client = await RawClient.connect(target, source=source, handshake=False, **kwargs)  # type: ignore[arg-type]
    async with client:
        frame = await client.recv()
        assert frame["event"] == "pusher:error", frame
        code = int(frame["data"]["code"])
        assert await client.close_code() == code
        return code


def test_pusher_js_over_the_per_address_limit_retries_until_a_place_frees(
    make_server: Callable[..., TidingsServer], pusher_js: Callable[..., PusherJsDriver]
) -> None:
    driver = pusher_js(make_server(server={"max_connections_per_ip": 2}))
    first = driver.client("first")
    driver.client("second")
    third = driver.client("third", wait_connected=False)

    error = third.wait_error(OVER_CAPACITY)
    assert error["data"]["message"] == "Too many connections from your address"
    assert third.connection()["state"] == "connecting"  # 4100: pusher-js retries in a second
    since = driver.mark()
    first.disconnect()
    third.wait_state("connected", since=since, timeout=10)


async def test_one_address_full_leaves_the_others_alone(
    make_server: Callable[..., TidingsServer],
) -> None:
    server = make_server(server={"max_connections_per_ip": 2})
    held = [await RawClient.connect(server, source="127.0.0.2") for _ in range(2)]
    try:
        assert await refused_with(server, "127.0.0.2") == OVER_CAPACITY
        async with await RawClient.connect(server, source="127.0.0.3") as other:
            await other.subscribe("elsewhere")
    finally:
        for client in held:
            await client.close()


async def open_all(server: TidingsServer, count: int, source: str) -> list[RawClient]:
    """``count`` sockets from ``source``, waiting for places that closing sockets still hold:
    the server forgets a socket only once its TCP connection is gone."""
    deadline = time.monotonic() + 10
    clients: list[RawClient] = []
    while len(clients) < count:
        try:
            clients.append(await RawClient.connect(server, source=source))
        except Closed as closed:
            assert closed.code == OVER_CAPACITY
            assert time.monotonic() < deadline, f"only {len(clients)} of {count} places came back"
            await asyncio.sleep(0.02)
    return clients


async def test_the_count_returns_to_zero_however_sockets_end(
    make_server: Callable[..., TidingsServer],
) -> None:
    limit = 3
    server = make_server(
        server={"max_connections_per_ip": limit}, allowed_origins=["https://app.example.com"]
    )
    for round_ in range(40):
        clients = await open_all(server, limit, "127.0.0.2")
        assert await refused_with(server, "127.0.0.2") == OVER_CAPACITY
        # Refusals for other reasons hold no place either.
        assert await refused_with(server, "127.0.0.2", key="no-such-key") == 4001
        foreign = {"Origin": "https://elsewhere.test"}
        assert await refused_with(server, "127.0.0.2", headers=foreign) == 4009
        for index, client in enumerate(clients):
            if (index + round_) % 3 == 0:
                await client.close()  # a closing handshake
            elif (index + round_) % 3 == 1:
                await client.vanish()  # TCP gone, no close frame
            else:  # a refused subscription first, then the close
                await client.send("pusher:subscribe", {"channel": "private-x", "auth": "k:bad"})
                await client.close()
    clients = await open_all(server, limit, "127.0.0.2")  # every place is free again...
    try:
        assert await refused_with(server, "127.0.0.2") == OVER_CAPACITY  # ...and no more
    finally:
        for client in clients:
            await client.close()


async def test_a_burst_of_new_connections_from_one_address_is_cut_to_the_rate(
    make_server: Callable[..., TidingsServer],
) -> None:
    rate = 2
    server = make_server(server={"max_new_connections_per_ip_per_sec": rate})
    started = time.monotonic()
    outcomes = await asyncio.gather(
        *(RawClient.connect(server, source="127.0.0.2") for _ in range(30)),
        return_exceptions=True,
    )
    elapsed = time.monotonic() - started
    accepted = [o for o in outcomes if isinstance(o, RawClient)]
    refused = [o for o in outcomes if isinstance(o, Closed)]
    assert len(accepted) + len(refused) == 30, outcomes
    assert all(closed.code == OVER_CAPACITY for closed in refused)
    # A second's worth at once, then the rate: whatever time the burst took on this machine.
    assert 1 <= len(accepted) <= rate + rate * elapsed
    assert refused
    async with await RawClient.connect(server, source="127.0.0.3") as other:  # its own budget
        await other.subscribe("elsewhere")
    for client in accepted:
        await client.close()


@pytest.fixture
def behind_haproxy(
    make_server: Callable[..., TidingsServer],
) -> Iterator[Callable[..., tuple[TidingsServer, HAProxy]]]:
    proxies: list[HAProxy] = []

    def start(**server: object) -> tuple[TidingsServer, HAProxy]:
        settings = {"max_connections_per_ip": 1, "trusted_proxies": [PROXY_SOURCE], **server}
        tidings = make_server(server=settings)
        proxy = HAProxy(tidings.port).start()
        proxies.append(proxy)
        return tidings, proxy

    yield start
    for proxy in proxies:
        proxy.stop()


async def test_behind_haproxy_with_the_proxy_protocol_each_client_counts_as_itself(
    behind_haproxy: Callable[..., tuple[TidingsServer, HAProxy]],
) -> None:
    tidings, proxy = behind_haproxy(proxy_protocol=True)
    v1, v2 = Via(tidings, proxy.ports["v1"]), Via(tidings, proxy.ports["v2"])
    async with await RawClient.connect(v1, source="127.0.0.2") as first:
        await first.subscribe("through-v1")
        # The same client through the v2 frontend: PROXY v2 names it too, so it is full.
        assert await refused_with(v2, "127.0.0.2") == OVER_CAPACITY
        async with await RawClient.connect(v2, source="127.0.0.3") as second:
            await second.subscribe("through-v2")
        # Untrusted peers are served directly; a PROXY header from one is not honoured.
        async with await RawClient.connect(tidings, source="127.0.0.5") as direct:
            await direct.subscribe("direct")
        reader, writer = await asyncio.open_connection(
            tidings.host, tidings.port, local_addr=("127.0.0.6", 0)
        )
        writer.write(b"PROXY TCP4 127.0.0.9 127.0.0.1 1000 6001\r\nGET /ready HTTP/1.1\r\n\r\n")
        assert (await reader.readline()).startswith(b"HTTP/1.1 400")
        writer.close()


async def test_a_trusted_peer_that_sends_no_proxy_header_is_dropped_unanswered(
    behind_haproxy: Callable[..., tuple[TidingsServer, HAProxy]],
) -> None:
    tidings, _ = behind_haproxy(proxy_protocol=True)
    reader, writer = await asyncio.open_connection(
        tidings.host, tidings.port, local_addr=(PROXY_SOURCE, 0)
    )
    writer.write(b"GET /ready HTTP/1.1\r\nHost: x\r\n\r\n")
    assert await asyncio.wait_for(reader.read(), 10) == b""
    writer.close()
    assert "no PROXY protocol header" in tidings.log()


async def test_behind_haproxy_x_forwarded_for_names_the_client_only_from_the_proxy(
    behind_haproxy: Callable[..., tuple[TidingsServer, HAProxy]],
) -> None:
    tidings, proxy = behind_haproxy()
    http = Via(tidings, proxy.ports["http"])
    async with await RawClient.connect(http, source="127.0.0.2") as first:
        await first.subscribe("through-http")
        assert await refused_with(http, "127.0.0.2") == OVER_CAPACITY
        async with await RawClient.connect(http, source="127.0.0.3") as second:
            await second.subscribe("through-http")
    # Straight from an untrusted address, a forged header changes nothing: it counts as itself.
    forged = {"X-Forwarded-For": "127.0.0.10"}
    async with await RawClient.connect(tidings, source="127.0.0.5", headers=forged):
        other = {"X-Forwarded-For": "127.0.0.11"}
        assert await refused_with(tidings, "127.0.0.5", headers=other) == OVER_CAPACITY
