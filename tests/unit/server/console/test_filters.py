from __future__ import annotations

import pytest

from tidings.events import Activity, ActivityKind, Published
from tidings.server.console.filters import KINDS, ActivityFilter, kind_of


def connected(app_id: str = "1") -> Activity:
    return Activity(ActivityKind.CONNECTED, app_id, "1.1")


def subscribed(channel: str, app_id: str = "1") -> Activity:
    return Activity(ActivityKind.SUBSCRIBED, app_id, "1.1", channel)


def published(channel: str, from_client: bool = False) -> Published:
    return Published("1", channel, "e", "{}", None, from_client=from_client)


def test_publishes_are_api_messages_or_client_events() -> None:
    assert kind_of(published("c")) == "api_message"
    assert kind_of(published("private-c", from_client=True)) == "client_event"
    assert kind_of(connected()) == "connected"


def test_every_activity_kind_is_a_console_kind() -> None:
    assert {kind.value for kind in ActivityKind} <= set(KINDS)
    assert len(set(KINDS)) == len(KINDS)


def test_the_default_filter_takes_everything_of_its_app_only() -> None:
    everything = ActivityFilter("1")

    assert everything.matches(connected())
    assert everything.matches(subscribed("any"))
    assert everything.matches(published("any", from_client=True))
    assert not everything.matches(connected(app_id="2"))
    assert not everything.matches(subscribed("any", app_id="2"))


def test_a_prefix_keeps_only_news_about_such_channels() -> None:
    news = ActivityFilter("1").changed({"prefix": "private-"})

    assert news.matches(subscribed("private-chat"))
    assert news.matches(published("private-chat"))
    assert not news.matches(subscribed("public"))
    assert not news.matches(connected())  # no channel at all


def test_kinds_pick_what_to_see() -> None:
    messages = ActivityFilter("1").changed({"kinds": ["api_message", "client_event"]})

    assert messages.matches(published("c"))
    assert messages.matches(published("c", from_client=True))
    assert not messages.matches(subscribed("c"))
    assert not ActivityFilter("1").changed({"kinds": []}).matches(published("c"))


def test_changing_keeps_the_app() -> None:
    assert ActivityFilter("9").changed({"prefix": "x"}).app_id == "9"


@pytest.mark.parametrize(
    ("request_", "problem"),
    [
        ("private-", "a filter is an object"),
        ({"prefix": 3}, "'prefix' must be a string"),
        ({"kinds": "connected"}, "'kinds' must be a list of strings"),
        ({"kinds": [1]}, "'kinds' must be a list of strings"),
        ({"kinds": ["connected", "gossip"]}, "unknown kind(s) gossip"),
    ],
)
def test_a_bad_filter_says_what_is_wrong(request_: object, problem: str) -> None:
    with pytest.raises(ValueError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        ActivityFilter("1").changed(request_)
