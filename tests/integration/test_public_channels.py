"""Public channels with real pusher-js clients and the official Python server SDK."""

from __future__ import annotations

from collections.abc import Callable

from tests.support.pusher_js import PusherJsDriver
from tests.support.server import TidingsServer


def test_a_subscriber_receives_events_the_backend_triggers(
    shared_server: TidingsServer, pusher_js: Callable[..., PusherJsDriver]
) -> None:
    driver = pusher_js(shared_server)
    reader = driver.client("reader")
    reader.subscribe("news")

    driver.rest.trigger("news", "article-published", {"id": 42, "title": "Hello"})

    event = reader.wait_for("news", "article-published")
    assert event.data == {"id": 42, "title": "Hello"}


def test_every_subscriber_gets_the_event_and_other_channels_stay_quiet(
    shared_server: TidingsServer, pusher_js: Callable[..., PusherJsDriver]
) -> None:
    driver = pusher_js(shared_server)
    first, second, elsewhere = driver.client(), driver.client(), driver.client()
    first.subscribe("scores")
    second.subscribe("scores")
    elsewhere.subscribe("weather")

    driver.rest.trigger(["scores", "weather"], "goal", {"team": "home"})

    assert first.wait_for("scores", "goal").data == {"team": "home"}
    assert second.wait_for("scores", "goal").data == {"team": "home"}
    assert elsewhere.wait_for("weather", "goal").data == {"team": "home"}
    driver.sync("weather", elsewhere)
    assert elsewhere.events("scores") == []


def test_the_triggering_socket_is_excluded_by_socket_id(
    shared_server: TidingsServer, pusher_js: Callable[..., PusherJsDriver]
) -> None:
    driver = pusher_js(shared_server)
    author, reader = driver.client("author"), driver.client("reader")
    author.subscribe("comments")
    reader.subscribe("comments")

    driver.rest.trigger("comments", "comment-added", {"text": "hi"}, socket_id=author.socket_id)

    assert reader.wait_for("comments", "comment-added").data == {"text": "hi"}
    driver.sync("comments", author)
    assert author.events("comments", "comment-added") == []


def test_after_unsubscribing_no_more_events_arrive(
    shared_server: TidingsServer, pusher_js: Callable[..., PusherJsDriver]
) -> None:
    driver = pusher_js(shared_server)
    leaver, stayer = driver.client(), driver.client()
    leaver.subscribe("ticker")
    stayer.subscribe("ticker")
    leaver.subscribe("control")

    leaver.unsubscribe("ticker")
    leaver.roundtrip()
    driver.rest.trigger("ticker", "tick", {"n": 1})

    assert stayer.wait_for("ticker", "tick").data == {"n": 1}
    driver.sync("control", leaver)
    assert leaver.events("ticker", "tick") == []


def test_a_string_payload_reaches_pusher_js_unchanged(
    shared_server: TidingsServer, pusher_js: Callable[..., PusherJsDriver]
) -> None:
    driver = pusher_js(shared_server)
    reader = driver.client()
    reader.subscribe("plain-text")

    driver.rest.trigger("plain-text", "note", "just words, not JSON")

    assert reader.wait_for("plain-text", "note").data == "just words, not JSON"
