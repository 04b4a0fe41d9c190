"""Batches belong to one app, and a page reload (leave, come straight back) is not news."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

from tests.support.raw_client import RawClient, sdk_for
from tests.support.server import AppSpec, TidingsServer
from tests.webhooks.receiver import Receiver, python_sdk_accepts, webhook_settings

StartTidings = Callable[..., Awaitable[TidingsServer]]


async def test_two_apps_posting_to_one_receiver_never_share_a_batch(
    receiver: Receiver, start_tidings: StartTidings, tmp_path: Path
) -> None:
    hooks = {"webhooks": [{"url": receiver.url()}]}
    shop = AppSpec(id="4242", key="shop-key", secret="shop-secret", settings=hooks)
    blog = AppSpec(id="4343", key="blog-key", secret="blog-secret", settings=hooks)
    # A long window, so both apps' events are waiting at the same time.
    server = await start_tidings(
        [shop, blog], webhook_settings(tmp_path / "data", webhook_batch_window=0.5)
    )
    async with (
        await RawClient.connect(server, shop.key) as shopper,
        await RawClient.connect(server, blog.key) as reader,
    ):
        for n in (1, 2):
            await shopper.subscribe(f"shop-{n}")
            await reader.subscribe(f"blog-{n}")
        await receiver.wait_for(lambda: len(receiver.events()) >= 4)

    apps = {shop.key: shop, blog.key: blog}
    channels_by_key: dict[str, set[str]] = {}
    for request in receiver.accepted:
        app = apps[request.headers["x-pusher-key"]]
        other = blog if app is shop else shop
        assert python_sdk_accepts(request, app)
        assert not python_sdk_accepts(request, other)
        channels_by_key.setdefault(app.key, set()).update(e["channel"] for e in request.events)
    assert channels_by_key == {"shop-key": {"shop-1", "shop-2"}, "blog-key": {"blog-1", "blog-2"}}


async def test_a_quick_reconnect_sends_neither_vacated_nor_member_removed(
    receiver: Receiver, start_tidings: StartTidings, tmp_path: Path
) -> None:
    app = AppSpec(settings={"webhooks": [{"url": receiver.url()}]})
    delay = 1.5
    server = await start_tidings(
        [app], webhook_settings(tmp_path / "data", webhook_vacate_delay=delay)
    )
    sdk = sdk_for(server)
    alice = {"user_id": "alice", "user_info": {}}
    arrival = [
        {"name": "channel_occupied", "channel": "orders"},
        {"name": "channel_occupied", "channel": "presence-room"},
        {"name": "member_added", "channel": "presence-room", "user_id": "alice"},
    ]

    async def open_page() -> RawClient:
        page = await RawClient.connect(server)
        await page.subscribe("orders")
        await page.subscribe("presence-room", sdk, alice)
        return page

    first = await open_page()
    await receiver.wait_for(lambda: len(receiver.events()) >= 3)
    assert sorted(e["name"] for e in receiver.events()) == sorted(e["name"] for e in arrival)

    await first.close()  # the page reloads: gone, and straight back
    reloaded = await open_page()
    await asyncio.sleep(delay + 1.0)  # well past the delay: anything pending would be out
    assert len(receiver.events()) == 3, receiver.events()

    await reloaded.close()  # and now she really leaves: that is reported, after the delay
    await receiver.wait_for(lambda: len(receiver.events()) >= 6)
    assert sorted((e["name"], e["channel"]) for e in receiver.events()[3:]) == [
        ("channel_vacated", "orders"),
        ("channel_vacated", "presence-room"),
        ("member_removed", "presence-room"),
    ]
