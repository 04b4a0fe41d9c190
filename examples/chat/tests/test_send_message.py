"""/api/send-message triggers new-message on user-{id}: seen on the server, and by a socket."""

from __future__ import annotations

import aiohttp
import pusher
from tidings.testing import EventRecorder, SocketFactory

from app import send_message


async def test_send_message_triggers_new_message(
    app_url: str, http: aiohttp.ClientSession, tidings_events: EventRecorder
) -> None:
    payload = {"userId": "42", "message": "Hello, 42"}
    async with http.post(f"{app_url}/api/send-message", json=payload) as response:
        assert response.status == 200
        assert await response.json() == {"success": True}

    event = tidings_events.wait_for("user-42", "new-message")
    assert event.data["message"] == "Hello, 42"
    assert "timestamp" in event.data
    tidings_events.assert_nothing("user-41")


async def test_a_bad_request_triggers_nothing(
    app_url: str, http: aiohttp.ClientSession, tidings_events: EventRecorder
) -> None:
    async with http.post(f"{app_url}/api/send-message", json={"userId": "42"}) as response:
        assert response.status == 400
    tidings_events.assert_nothing()


async def test_the_users_page_receives_it(
    app_url: str, http: aiohttp.ClientSession, pusher_socket: SocketFactory
) -> None:
    page = await pusher_socket()  # what pusher-js does on the user's page
    await page.subscribe("user-42")

    await http.post(f"{app_url}/api/send-message", json={"userId": "42", "message": "hi"})

    event = await page.next_event("user-42", "new-message")
    assert event.data["message"] == "hi"


def test_send_message_from_synchronous_code(
    pusher_client: pusher.Pusher, tidings_events: EventRecorder
) -> None:
    # No event loop here: the server runs in its own thread.
    send_message(pusher_client, "7", "from a worker")
    assert tidings_events.wait_for("user-7", "new-message").data["message"] == "from a worker"


def test_every_test_starts_from_nothing(
    tidings_events: EventRecorder, pusher_client: pusher.Pusher
) -> None:
    assert tidings_events.events == []
    assert pusher_client.channels_info()["channels"] == {}
