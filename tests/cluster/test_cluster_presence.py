"""Presence and channel state are one cluster-wide truth, whichever node a client is on."""

from __future__ import annotations

from tests.cluster.conftest import call, data, eventually, frames_until, presence_user
from tests.support.raw_client import RawClient, sdk_for
from tests.support.server import TidingsServer


async def test_members_and_counts_are_cluster_wide_and_a_user_on_two_nodes_counts_once(
    cluster: list[TidingsServer],
) -> None:
    a, b, c = cluster
    sdk = sdk_for(a)
    room = "presence-standup"
    async with (
        await RawClient.connect(c) as host,
        await RawClient.connect(a) as ada_laptop,
        await RawClient.connect(b) as ada_phone,
        await RawClient.connect(b) as bob,
    ):
        await host.subscribe(room, sdk, presence_user("host", name="Host"))
        await ada_laptop.subscribe(room, sdk, presence_user("ada", name="Ada"))
        await ada_phone.subscribe(room, sdk, presence_user("ada", name="Ada"))
        joined = await bob.subscribe(room, sdk, presence_user("bob", name="Bob"))

        presence = data(joined)["presence"]
        assert presence["count"] == 3
        assert presence["hash"] == {
            "host": {"name": "Host"},
            "ada": {"name": "Ada"},
            "bob": {"name": "Bob"},
        }
        await call(sdk_for(c).trigger, room, "checkpoint", {})
        added = [data(f)["user_id"] for f in await frames_until(host, "checkpoint")]
        assert added == ["ada", "bob"]  # ada once, though she joined from two nodes

        users = await call(sdk_for(a).users_info, room)
        assert sorted(user["id"] for user in users["users"]) == ["ada", "bob", "host"]
        info = await call(sdk_for(b).channel_info, room, ["user_count", "subscription_count"])
        assert info == {"occupied": True, "user_count": 3, "subscription_count": 4}
        listed = await call(sdk_for(c).channels_info, "presence-", ["user_count"])
        assert listed["channels"][room] == {"user_count": 3}

        def subscriptions() -> int:
            return int(sdk_for(c).channel_info(room, ["subscription_count"])["subscription_count"])

        await ada_laptop.close()
        await eventually(lambda: subscriptions() == 3)
        await call(sdk_for(a).trigger, room, "laptop-closed", {})
        assert await frames_until(host, "laptop-closed") == []  # ada is still on her phone
        await ada_phone.close()
        removed = await host.expect("pusher_internal:member_removed")
        assert data(removed) == {"user_id": "ada"}
        await call(sdk_for(a).trigger, room, "phone-closed", {})
        assert await frames_until(host, "phone-closed") == []  # and only once
        users = await call(sdk_for(b).users_info, room)
        assert sorted(user["id"] for user in users["users"]) == ["bob", "host"]


async def test_channel_lists_and_occupied_follow_subscribers_on_any_node(
    cluster: list[TidingsServer],
) -> None:
    a, b, c = cluster
    async with await RawClient.connect(a) as first, await RawClient.connect(b) as second:
        await first.subscribe("ticker-eu")
        await second.subscribe("ticker-eu")
        await second.subscribe("ticker-us")

        listed = await call(sdk_for(c).channels_info, "ticker-", ["subscription_count"])
        assert listed["channels"] == {
            "ticker-eu": {"subscription_count": 2},
            "ticker-us": {"subscription_count": 1},
        }
        await second.close()
        counts = []
        while not counts or counts[-1] != 1:  # node B tells everyone, node A included
            frame = await first.expect("pusher_internal:subscription_count", "ticker-eu")
            counts.append(data(frame)["subscription_count"])
        listed = await call(sdk_for(c).channels_info, "ticker-", ["subscription_count"])
        assert listed["channels"] == {"ticker-eu": {"subscription_count": 1}}
        assert (await call(sdk_for(b).channel_info, "ticker-us"))["occupied"] is False
