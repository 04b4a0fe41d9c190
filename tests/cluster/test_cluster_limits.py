"""Per-app limits and webhooks count the whole cluster, not each node."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pusher.errors

from tests.cluster.conftest import presence_user
from tests.support.raw_client import RawClient, sdk_for
from tests.support.server import AppSpec
from tests.webhooks.receiver import Receiver, webhook_settings


async def test_max_connections_counts_sockets_on_every_node(
    make_cluster: Callable[..., Any],
) -> None:
    _, (a, b, c) = make_cluster(AppSpec(settings={"max_connections": 2}))
    async with await RawClient.connect(a) as first, await RawClient.connect(b) as second:
        async with await RawClient.connect(c, handshake=False) as third:
            error = await third.expect("pusher:error")
            assert error["data"]["code"] == 4004  # over the app's quota, counted cluster-wide
            assert await third.close_code() == 4004
        assert first.socket_id and second.socket_id


async def test_backend_rate_limit_is_shared_by_all_nodes(
    make_cluster: Callable[..., Any],
) -> None:
    _, nodes = make_cluster(AppSpec(settings={"max_backend_events_per_sec": 4}))

    def trigger(index: int) -> bool:
        try:
            sdk_for(nodes[index % 3]).trigger("metered", "tick", {"n": index})
            return True
        except pusher.errors.PusherBadStatus as error:
            assert "429" in str(error)
            return False

    accepted = await asyncio.gather(*(asyncio.to_thread(trigger, i) for i in range(15)))
    # Per node, 5 requests each would all pass a limit of 4 only if it were counted per node;
    # cluster-wide at most 4 pass per second, and the burst spans two seconds at most.
    assert sum(accepted) <= 8
    assert not all(accepted)


async def test_webhooks_fire_once_per_cluster_at_first_join_and_last_leave(
    make_cluster: Callable[..., Any], tmp_path: Path
) -> None:
    receiver = await Receiver().start()
    try:
        app = AppSpec(settings={"webhooks": [{"url": receiver.url()}]})
        nodes = await asyncio.to_thread(make_cluster, app, **webhook_settings(tmp_path / "data"))
        a, b, c = nodes[1]
        sdk = sdk_for(a)
        room = "presence-war-room"
        clients = [await RawClient.connect(node) for node in (a, b, c)]
        for client in clients:  # the same user on three nodes
            await client.subscribe(room, sdk, presence_user("ada"))
        for client in clients:
            await client.close()

        def names() -> list[str]:
            return [event["name"] for event in receiver.events()]

        await receiver.wait_for(lambda: "channel_vacated" in names(), what="channel_vacated")
        await asyncio.sleep(0.5)  # room for a duplicate to show up
        assert sorted(names()) == [
            "channel_occupied",
            "channel_vacated",
            "member_added",
            "member_removed",
        ]
    finally:
        await receiver.stop()
