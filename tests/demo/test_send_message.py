"""``POST /api/send-message``: the guide's complete flow, ``new-message`` on ``user-{userId}``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
import requests

from tests.support.demo import DemoProcess
from tests.support.pusher_js import PusherJsDriver
from tests.support.server import AppSpec
from tidings.testing import EventRecorder, TidingsServer


@pytest.fixture(scope="module")
def demo(tidings_server: TidingsServer) -> Iterator[DemoProcess]:
    """The demo app on tidings.testing's in-process server (the pytest plugin) instead of
    its own: what the endpoint publishes can then be checked without a socket."""
    app = AppSpec(tidings_server.app_id, tidings_server.key, tidings_server.secret)
    with DemoProcess(app, server_port=tidings_server.port, external_server=True) as process:
        yield process


def test_a_message_reaches_the_users_channel_with_an_iso_timestamp(
    api: Callable[..., requests.Response], listener: PusherJsDriver
) -> None:
    alice = listener.client("alice")
    alice.subscribe("user-alice")

    response = api("POST", "/api/send-message", json={"userId": "alice", "message": "Hi Alice"})

    assert (response.status_code, response.json()) == (200, {"success": True})
    data = alice.wait_for("user-alice", "new-message").data
    assert data["message"] == "Hi Alice"
    sent = datetime.fromisoformat(data["timestamp"])
    assert sent.tzinfo is not None
    assert abs(datetime.now(UTC) - sent) < timedelta(minutes=1)


def test_other_users_do_not_get_it(
    api: Callable[..., requests.Response], tidings_events: EventRecorder
) -> None:
    api("POST", "/api/send-message", json={"userId": "carol", "message": "for Carol only"})

    assert tidings_events.wait_for("user-carol", "new-message").data["message"] == "for Carol only"
    assert [event.channel for event in tidings_events.events] == ["user-carol"]


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ({"message": "hello"}, 400, "Missing required fields: userId, message"),
        ({"userId": "alice"}, 400, "Missing required fields: userId, message"),
        ({"userId": "alice", "message": ""}, 400, "Missing required fields: userId, message"),
        ({"userId": "al ice", "message": "hi"}, 400, "Invalid message: userId gives a bad"),
        ({"userId": "alice", "message": 42}, 400, "Invalid message: message must be a string"),
        ({"userId": "alice", "message": "x" * 2001}, 400, "longer than 2000 characters"),
    ],
    ids=["no-user", "no-message", "empty-message", "bad-user-id", "number", "too-long"],
)
def test_bad_input_is_a_400_that_says_what_is_wrong(
    api: Callable[..., requests.Response],
    tidings_events: EventRecorder,
    body: dict[str, object],
    status: int,
    error: str,
) -> None:
    response = api("POST", "/api/send-message", json=body)

    assert response.status_code == status
    assert error in response.json()["error"]
    tidings_events.assert_nothing()
