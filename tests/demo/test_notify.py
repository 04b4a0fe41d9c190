"""``POST /api/internal/notify``: the guide's notification route, as its curl test uses it."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import requests

from tests.support.pusher_js import PusherJsDriver

GUIDE_PAYLOAD = {"channel": "my-channel", "event": "my-event", "data": {"message": "Test message"}}
MISSING = {"error": "Missing required fields: channel, event, data"}


def test_the_guides_curl_notification_reaches_a_subscriber(
    api: Callable[..., requests.Response], listener: PusherJsDriver
) -> None:
    browser = listener.client("browser")
    browser.subscribe("my-channel")

    response = api("POST", "/api/internal/notify", json=GUIDE_PAYLOAD)

    assert (response.status_code, response.json()) == (200, {"success": True})
    assert browser.wait_for("my-channel", "my-event").data == {"message": "Test message"}


@pytest.mark.parametrize(
    "body",
    [
        {"event": "my-event", "data": {"message": "x"}},
        {"channel": "my-channel", "data": {"message": "x"}},
        {"channel": "my-channel", "event": "my-event"},
        {"channel": "my-channel", "event": "my-event", "data": None},
        {"channel": "", "event": "my-event", "data": "x"},
        ["my-channel", "my-event", "x"],
    ],
    ids=["no-channel", "no-event", "no-data", "null-data", "empty-channel", "not-an-object"],
)
def test_a_missing_field_is_a_400_naming_the_required_fields(
    api: Callable[..., requests.Response], body: object
) -> None:
    response = api("POST", "/api/internal/notify", json=body)

    assert (response.status_code, response.json()) == (400, MISSING)


def test_a_body_that_is_not_json_is_a_400_too(api: Callable[..., requests.Response]) -> None:
    response = api(
        "POST",
        "/api/internal/notify",
        data='{"channel": "my-channel",',
        headers={"Content-Type": "application/json"},
    )

    assert (response.status_code, response.json()) == (400, MISSING)


@pytest.mark.parametrize(
    ("channel", "event", "complaint"),
    [
        ("my channel", "my-event", "may only contain"),
        ("a" * 165, "my-event", "the limit is 164"),
        (["my-channel"], "my-event", "channel must be a non-empty string"),
        ("my-channel", "pusher:subscribe", "reserved prefix"),
        ("my-channel", "e" * 201, "the limit is 200"),
    ],
    ids=["space", "too-long", "list", "reserved-event", "long-event"],
)
def test_bad_channel_and_event_names_are_refused_before_anything_is_sent(
    api: Callable[..., requests.Response],
    listener: PusherJsDriver,
    channel: object,
    event: str,
    complaint: str,
) -> None:
    watcher = listener.client()
    watcher.subscribe("my-channel")

    response = api(
        "POST", "/api/internal/notify", json={"channel": channel, "event": event, "data": "x"}
    )

    assert response.status_code == 400
    assert response.json()["error"].startswith("Invalid notification: ")
    assert complaint in response.json()["error"]
    listener.sync("my-channel", watcher)
    assert watcher.events("my-channel", event) == []


def test_data_over_the_10_kb_event_limit_is_refused(api: Callable[..., requests.Response]) -> None:
    body = {"channel": "my-channel", "event": "my-event", "data": {"blob": "x" * 11_000}}

    response = api("POST", "/api/internal/notify", json=body)

    assert response.status_code == 400
    assert "larger than 10240 bytes" in response.json()["error"]
