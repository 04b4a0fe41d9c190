"""Events cross nodes: triggered on any node, delivered on every node once and in order."""

from __future__ import annotations

import json

from tests.cluster.conftest import call, data, frames_until
from tests.support.raw_client import RawClient, sdk_for
from tests.support.server import TidingsServer


async def test_an_api_event_reaches_subscribers_on_every_node_once_and_in_order(
    cluster: list[TidingsServer],
) -> None:
    readers = [await RawClient.connect(node) for node in cluster]
    try:
        for reader in readers:
            await reader.subscribe("orders")
        sdk = sdk_for(cluster[2])
        for number in range(15):
            await call(sdk.trigger, "orders", "order-placed", {"number": number})
        await call(sdk.trigger, "orders", "end-of-day", {})

        for reader in readers:
            frames = await frames_until(reader, "end-of-day")
            assert [data(f)["number"] for f in frames] == list(range(15))
    finally:
        for reader in readers:
            await reader.close()


async def test_a_client_event_reaches_other_nodes_but_never_its_sender(
    cluster: list[TidingsServer],
) -> None:
    a, b, c = cluster
    sdk = sdk_for(a)
    async with (
        await RawClient.connect(a) as typist,
        await RawClient.connect(a) as neighbour,
        await RawClient.connect(b) as far,
        await RawClient.connect(c) as farther,
    ):
        for client in (typist, neighbour, far, farther):
            await client.subscribe("private-chat", sdk)

        await typist.send("client-typing", {"who": "ada"}, channel="private-chat")
        for client in (neighbour, far, farther):
            frame = await client.next_event()
            assert (frame["event"], data(frame)) == ("client-typing", {"who": "ada"})
        await call(sdk_for(c).trigger, "private-chat", "checkpoint", {})
        assert await frames_until(typist, "checkpoint") == []


async def test_socket_id_exclusion_works_when_the_excluded_socket_is_on_another_node(
    cluster: list[TidingsServer],
) -> None:
    a, b, c = cluster
    async with (
        await RawClient.connect(a) as author,
        await RawClient.connect(b) as reader_b,
        await RawClient.connect(c) as reader_c,
    ):
        for client in (author, reader_b, reader_c):
            await client.subscribe("comments")
        sdk = sdk_for(c)
        await call(sdk.trigger, "comments", "new-comment", {"id": 1}, socket_id=author.socket_id)
        await call(sdk.trigger, "comments", "checkpoint", {})

        assert await frames_until(author, "checkpoint") == []
        for reader in (reader_b, reader_c):
            assert [f["event"] for f in await frames_until(reader, "checkpoint")] == ["new-comment"]


async def test_a_cache_channel_remembers_its_last_event_for_every_node(
    cluster: list[TidingsServer],
) -> None:
    a, b, c = cluster
    await call(sdk_for(a).trigger, "cache-prices", "price", {"eur": 101})

    async with await RawClient.connect(b) as late_comer:
        await late_comer.subscribe("cache-prices")
        frame = await late_comer.next_event()
        assert (frame["event"], data(frame)) == ("price", {"eur": 101})
    info = await call(sdk_for(c).channel_info, "cache-prices", ["cache"])
    assert json.loads(info["cache"]["data"]) == {"eur": 101}
    assert 0 < info["cache"]["ttl"] <= 1800
