"""Cache channels: a late subscriber gets the last triggered event, or ``pusher:cache_miss``."""

from __future__ import annotations

import base64
import os
import time
import uuid
from collections.abc import Callable

import pytest

from tests.support.pusher_js import PusherJsDriver
from tests.support.server import TidingsServer

PRESENCE = {"user_id": "u-late", "user_info": {"name": "Late"}}
KINDS = ["cache-", "private-cache-", "presence-cache-"]


def fresh(prefix: str) -> str:
    return f"{prefix}prices-{uuid.uuid4().hex[:8]}"


@pytest.mark.parametrize("prefix", KINDS)
def test_subscribing_to_an_empty_cache_channel_reports_a_cache_miss(
    prefix: str, shared_server: TidingsServer, pusher_js: Callable[..., PusherJsDriver]
) -> None:
    driver = pusher_js(shared_server)
    channel = fresh(prefix)
    late = driver.client("late", presence=PRESENCE)

    late.subscribe(channel)

    late.wait_for(channel, "pusher:cache_miss")


@pytest.mark.parametrize("prefix", KINDS)
def test_a_late_subscriber_gets_only_the_last_event_at_once(
    prefix: str, shared_server: TidingsServer, pusher_js: Callable[..., PusherJsDriver]
) -> None:
    driver = pusher_js(shared_server)
    channel = fresh(prefix)
    driver.rest.trigger(channel, "price", {"eur": 1})
    driver.rest.trigger(channel, "price", {"eur": 2})
    late = driver.client("late", presence=PRESENCE)

    late.subscribe(channel)

    assert late.wait_for(channel, "price").data == {"eur": 2}
    driver.sync(channel, late)
    assert [e.data for e in late.events(channel, "price")] == [{"eur": 2}]
    assert late.events(channel, "pusher:cache_miss") == []
    names = [e.name for e in late.events(channel)]
    assert names.index("pusher:subscription_succeeded") < names.index("price")


def test_an_encrypted_cache_channel_replays_ciphertext_pusher_js_can_decrypt(
    shared_server: TidingsServer, pusher_js: Callable[..., PusherJsDriver]
) -> None:
    master_key = base64.b64encode(os.urandom(32)).decode()
    driver = pusher_js(shared_server, encryption_master_key_base64=master_key)
    channel = fresh("private-encrypted-cache-")
    driver.node_sdk("trigger", channel, "balance", {"total": 10})

    late = driver.client("late")
    late.subscribe(channel)

    assert late.wait_for(channel, "balance").data == {"total": 10}


def test_client_events_are_not_cached(
    shared_server: TidingsServer, pusher_js: Callable[..., PusherJsDriver]
) -> None:
    driver = pusher_js(shared_server)
    channel = fresh("private-cache-")
    whisperer = driver.client("whisperer")
    whisperer.subscribe(channel)
    whisperer.trigger(channel, "client-draft", {"text": "not for later"})
    whisperer.roundtrip()

    late = driver.client("late")
    late.subscribe(channel)

    late.wait_for(channel, "pusher:cache_miss")
    assert late.events(channel, "client-draft") == []


def test_the_cached_event_expires_after_the_apps_cache_ttl(
    make_server: Callable[..., TidingsServer], pusher_js: Callable[..., PusherJsDriver]
) -> None:
    driver = pusher_js(make_server(cache_ttl=0.3))
    driver.rest.trigger("cache-weather", "forecast", {"sky": "blue"})
    early = driver.client("early")
    early.subscribe("cache-weather")
    assert early.wait_for("cache-weather", "forecast").data == {"sky": "blue"}

    time.sleep(0.6)  # past the TTL: the cache has to forget
    late = driver.client("late")
    late.subscribe("cache-weather")

    late.wait_for("cache-weather", "pusher:cache_miss")
