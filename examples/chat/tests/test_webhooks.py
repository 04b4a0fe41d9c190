"""/pusher/webhooks: the app hears who comes and goes, and tells the lobby."""

from __future__ import annotations

from tidings.testing import EventRecorder, SocketFactory, TidingsServer, WebhookReceiver

LOBBY = "presence-lobby"


async def test_arrivals_and_departures_reach_the_apps_handler(
    app_url: str,
    pusher_socket: SocketFactory,
    tidings_server: TidingsServer,
    tidings_events: EventRecorder,
) -> None:
    tidings_server.webhooks_to(f"{app_url}/pusher/webhooks")
    alice = await pusher_socket(
        auth_endpoint=f"{app_url}/pusher/auth", headers={"Cookie": "user=alice"}
    )
    await alice.subscribe(LOBBY)

    # The handler verified the signature, then broadcast the lobby: no sleep, no polling.
    arrived = await tidings_events.wait_for_async("lobby-status", "online-users")
    assert arrived.data == {"users": ["alice"]}

    tidings_events.clear()
    await alice.close()
    left = await tidings_events.wait_for_async("lobby-status", "online-users")
    assert left.data == {"users": []}


async def test_the_server_sends_signed_webhooks(
    app_url: str, pusher_socket: SocketFactory, tidings_webhooks: WebhookReceiver
) -> None:
    bob = await pusher_socket(
        auth_endpoint=f"{app_url}/pusher/auth", headers={"Cookie": "user=bob"}
    )
    await bob.subscribe(LOBBY)
    await tidings_webhooks.wait_for_async("member_added", LOBBY, user_id="bob")
    await bob.close()
    await tidings_webhooks.wait_for_async("channel_vacated", LOBBY)
    assert all(request.valid for request in tidings_webhooks.requests)
