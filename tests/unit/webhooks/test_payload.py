"""Webhook bodies: one documented dict per event, one JSON document per batch, restamping.

Signatures are recomputed here with ``hmac``/``hashlib``, independently of the code under test.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import orjson
import pytest

from tidings.apps import App
from tidings.events import HubEvent, HubEventKind
from tidings.webhooks.payload import batch_body, event_body, restamp
from tidings.webhooks.queue import NewWebhook
from tidings.webhooks.sender import signed_headers

APP = App(id="1", key="app-key", secret="app-secret")


def hmac_sha256(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


# -- one event ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kind", [HubEventKind.CHANNEL_OCCUPIED, HubEventKind.CHANNEL_VACATED, HubEventKind.CACHE_MISS]
)
def test_channel_events_carry_only_name_and_channel(kind: HubEventKind) -> None:
    event = HubEvent(kind, "1", "news", user_id="ignored", data="ignored", subscription_count=3)
    assert event_body(event) == {"name": kind.value, "channel": "news"}


@pytest.mark.parametrize("kind", [HubEventKind.MEMBER_ADDED, HubEventKind.MEMBER_REMOVED])
def test_member_events_add_the_user_id(kind: HubEventKind) -> None:
    event = HubEvent(kind, "1", "presence-room", user_id="ada", event="ignored", data="x")
    assert event_body(event) == {"name": kind.value, "channel": "presence-room", "user_id": "ada"}


def test_a_client_event_carries_event_data_and_socket_id() -> None:
    event = HubEvent(
        HubEventKind.CLIENT_EVENT,
        "1",
        "private-chat",
        event="client-typing",
        data='{"on":true}',
        socket_id="123.456",
    )
    assert event_body(event) == {
        "name": "client_event",
        "channel": "private-chat",
        "event": "client-typing",
        "data": '{"on":true}',
        "socket_id": "123.456",
    }


def test_a_client_event_on_a_presence_channel_also_names_the_user() -> None:
    event = HubEvent(
        HubEventKind.CLIENT_EVENT,
        "1",
        "presence-room",
        user_id="ada",
        event="client-wave",
        data="{}",
        socket_id="1.2",
    )
    body = event_body(event)
    assert body["user_id"] == "ada"
    assert list(body) == ["name", "channel", "event", "data", "socket_id", "user_id"]


def test_a_subscription_count_event_carries_the_count() -> None:
    event = HubEvent(HubEventKind.SUBSCRIPTION_COUNT, "1", "news", subscription_count=42)
    assert event_body(event) == {
        "name": "subscription_count",
        "channel": "news",
        "subscription_count": 42,
    }


def test_the_event_name_is_a_plain_string_in_the_json() -> None:
    body = event_body(HubEvent(HubEventKind.CHANNEL_OCCUPIED, "1", "news"))
    assert type(body["name"]) is str
    assert orjson.dumps(body) == b'{"name":"channel_occupied","channel":"news"}'


# -- one batch ------------------------------------------------------------------------------


def test_a_batch_is_compact_json_with_time_ms_then_the_events_in_order() -> None:
    events = [
        {"name": "channel_occupied", "channel": "a"},
        {"name": "member_added", "channel": "presence-b", "user_id": "ada"},
    ]
    assert batch_body(1700000000123, events) == (
        b'{"time_ms":1700000000123,"events":['
        b'{"name":"channel_occupied","channel":"a"},'
        b'{"name":"member_added","channel":"presence-b","user_id":"ada"}]}'
    )


def test_a_batch_accepts_any_sequence_of_events() -> None:
    events = ({"name": "channel_vacated", "channel": "a"},)
    assert orjson.loads(batch_body(5, events)) == {"time_ms": 5, "events": list(events)}


def test_a_batch_body_signed_with_the_app_secret_matches_an_independent_hmac() -> None:
    body = batch_body(1700000000123, [{"name": "channel_occupied", "channel": "private-orders"}])
    webhook = NewWebhook("1", "https://receiver.test/hook", (("X-Extra", "1"),), body, 0.0)
    headers = signed_headers(webhook, APP, body)
    assert headers["X-Pusher-Key"] == "app-key"
    assert headers["X-Pusher-Signature"] == hmac_sha256("app-secret", body)
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Extra"] == "1"


# -- restamping -----------------------------------------------------------------------------


def test_restamp_replaces_time_ms_and_keeps_the_events_exactly() -> None:
    events: list[dict[str, Any]] = [
        {
            "name": "client_event",
            "channel": "private-c",
            "event": "client-x",
            "data": '{"text":"héllo ✓"}',
            "socket_id": "1.1",
        },
        {"name": "subscription_count", "channel": "news", "subscription_count": 7},
    ]
    original = batch_body(1000, events)
    restamped = restamp(original, 2000)
    assert restamped == batch_body(2000, events)
    assert orjson.loads(restamped)["events"] == events


def test_restamp_leaves_the_original_body_untouched() -> None:
    original = batch_body(1000, [{"name": "channel_occupied", "channel": "a"}])
    copy = bytes(original)
    restamp(original, 2000)
    assert original == copy


def test_a_restamped_body_needs_and_gets_a_fresh_signature() -> None:
    original = batch_body(1000, [{"name": "channel_vacated", "channel": "a"}])
    restamped = restamp(original, 2000)
    webhook = NewWebhook("1", "https://receiver.test/hook", (), original, 0.0)
    old = signed_headers(webhook, APP, original)["X-Pusher-Signature"]
    new = signed_headers(webhook, APP, restamped)["X-Pusher-Signature"]
    assert new == hmac_sha256("app-secret", restamped)
    assert old == hmac_sha256("app-secret", original)
    assert new != old  # the old signature would not verify the new time_ms
