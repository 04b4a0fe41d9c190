"""/pusher/auth: who may join the presence lobby, as what; client events; limits."""

from __future__ import annotations

from typing import Any

import pytest
from tidings.testing import EventRecorder, PusherSocket, SocketFactory, SubscriptionRefused

LOBBY = "presence-lobby"


async def join(app_url: str, pusher_socket: SocketFactory, name: str) -> tuple[PusherSocket, Any]:
    """Log ``name`` in (the cookie) and join the lobby through the app's auth endpoint."""
    socket = await pusher_socket(
        auth_endpoint=f"{app_url}/pusher/auth", headers={"Cookie": f"user={name}"}
    )
    joined = await socket.subscribe(LOBBY)
    return socket, joined


async def test_a_logged_in_user_joins_under_their_name(
    app_url: str, pusher_socket: SocketFactory
) -> None:
    _, joined = await join(app_url, pusher_socket, "alice")
    assert joined["presence"]["hash"] == {"alice": {"name": "alice"}}


async def test_an_anonymous_visitor_is_refused(app_url: str, pusher_socket: SocketFactory) -> None:
    socket = await pusher_socket(auth_endpoint=f"{app_url}/pusher/auth")
    with pytest.raises(SubscriptionRefused) as refused:
        await socket.subscribe(LOBBY)
    assert refused.value.status == 403


async def test_members_see_each_other_arrive(app_url: str, pusher_socket: SocketFactory) -> None:
    alice, _ = await join(app_url, pusher_socket, "alice")
    _, joined = await join(app_url, pusher_socket, "bob")
    assert joined["presence"]["count"] == 2

    added = await alice.next_event(LOBBY, "pusher_internal:member_added")
    assert added.data == {"user_id": "bob", "user_info": {"name": "bob"}}


@pytest.mark.tidings(enable_client_events=True)
async def test_typing_indicators_are_client_events(
    app_url: str, pusher_socket: SocketFactory, tidings_events: EventRecorder
) -> None:
    alice, _ = await join(app_url, pusher_socket, "alice")
    bob, _ = await join(app_url, pusher_socket, "bob")

    await alice.send_client_event(LOBBY, "client-typing", {"typing": True})

    typing = await bob.next_event(LOBBY, "client-typing")
    assert typing.data == {"typing": True}
    assert typing.user_id == "alice"
    recorded = await tidings_events.wait_for_async(LOBBY, "client-typing")
    assert recorded.user_id == "alice"


async def test_client_events_are_off_unless_the_app_enables_them(
    app_url: str, pusher_socket: SocketFactory
) -> None:
    alice, _ = await join(app_url, pusher_socket, "alice")
    await alice.send_client_event(LOBBY, "client-typing", {"typing": True})
    error = await alice.next_event(name="pusher:error")
    assert error.data["code"] == 4301


@pytest.mark.tidings(max_presence_members_per_channel=1)
async def test_a_full_lobby_refuses_the_next_member(
    app_url: str, pusher_socket: SocketFactory
) -> None:
    await join(app_url, pusher_socket, "alice")
    with pytest.raises(SubscriptionRefused):
        await join(app_url, pusher_socket, "bob")
