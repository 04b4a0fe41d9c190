"""Signed-in users across nodes: server-to-user events, terminating, watchlists."""

from __future__ import annotations

from typing import Any

from tests.cluster.conftest import call, data
from tests.support.raw_client import RawClient, sdk_for
from tests.support.server import TidingsServer


async def sign_in(client: RawClient, node: TidingsServer, user: dict[str, Any]) -> None:
    auth = sdk_for(node).authenticate_user(client.socket_id, user)
    await client.send("pusher:signin", auth)
    await client.expect("pusher:signin_success")


async def test_send_to_user_and_terminate_reach_the_users_sockets_on_every_node(
    cluster: list[TidingsServer],
) -> None:
    a, b, c = cluster
    async with (
        await RawClient.connect(a) as laptop,
        await RawClient.connect(b) as phone,
        await RawClient.connect(c) as someone_else,
    ):
        await sign_in(laptop, a, {"id": "u-grace"})
        await sign_in(phone, b, {"id": "u-grace"})
        await sign_in(someone_else, c, {"id": "u-linus"})

        await call(sdk_for(c).send_to_user, "u-grace", "invoice-ready", {"invoice": 7})
        for device in (laptop, phone):
            frame = await device.expect("invoice-ready")
            assert data(frame) == {"invoice": 7}

        await call(sdk_for(c).terminate_user_connections, "u-grace")
        assert await laptop.close_code() == 4009
        assert await phone.close_code() == 4009
        await call(sdk_for(a).send_to_user, "u-linus", "still-here", {})
        assert (await someone_else.expect("still-here"))["event"] == "still-here"


async def test_watchlists_see_users_come_online_and_go_offline_on_other_nodes(
    cluster: list[TidingsServer],
) -> None:
    a, b, c = cluster
    async with await RawClient.connect(a) as watcher:
        await sign_in(watcher, a, {"id": "u-boss", "watchlist": ["u-ada"]})
        initial = await watcher.expect("pusher_internal:watchlist_events")
        assert data(initial)["events"] == [{"name": "offline", "user_ids": ["u-ada"]}]

        ada_laptop = await RawClient.connect(b)
        ada_phone = await RawClient.connect(c)
        await sign_in(ada_laptop, b, {"id": "u-ada"})
        online = await watcher.expect("pusher_internal:watchlist_events")
        assert data(online)["events"] == [{"name": "online", "user_ids": ["u-ada"]}]
        await sign_in(ada_phone, c, {"id": "u-ada"})  # already online: no second event

        await ada_laptop.close()
        await ada_phone.close()
        offline = await watcher.expect("pusher_internal:watchlist_events")
        assert data(offline)["events"] == [{"name": "offline", "user_ids": ["u-ada"]}]
