from __future__ import annotations

import json
from typing import Any

from tidings.events import Activity, ActivityKind, Published
from tidings.hub.base import ChannelStats
from tidings.server.console.wire import activity_frame, describe, stats_frame


def payload(frame: bytes) -> Any:
    assert frame[0] == 0x81  # one unmasked text frame
    length = frame[1]
    start = 2 if length < 126 else 4
    return json.loads(frame[start:])


def test_an_activity_line_has_only_what_is_known() -> None:
    closed = Activity(ActivityKind.DISCONNECTED, "1", "1.2", code=4009)

    assert describe(1.5, closed) == {
        "at": 1500,
        "kind": "disconnected",
        "socket_id": "1.2",
        "code": 4009,
    }
    refused = Activity(ActivityKind.SUBSCRIPTION_REFUSED, "1", "1.2", "private-x", 401, "bad")
    assert describe(0, refused) == {
        "at": 0,
        "kind": "subscription_refused",
        "channel": "private-x",
        "socket_id": "1.2",
        "code": 401,
        "detail": "bad",
    }


def test_a_published_event_carries_its_name_and_payload() -> None:
    trigger = Published("1", "news", "headline", '{"n":1}', None)
    client = Published("1", "presence-x", "client-hi", {"a": [1]}, "1.3", "ada", from_client=True)

    assert describe(2, trigger) == {
        "at": 2000,
        "kind": "api_message",
        "channel": "news",
        "event": "headline",
        "data": '{"n":1}',
    }
    assert describe(2, client)["data"] == {"a": [1]}
    assert describe(2, client)["user_id"] == "ada"
    assert describe(2, client)["socket_id"] == "1.3"


def test_one_frame_carries_a_batch_and_the_dropped_count() -> None:
    sent = Activity(ActivityKind.WEBHOOK_SENT, "1", code=1, detail="http://h/w", data=[{"n": 1}])

    document = payload(activity_frame([(1.0, sent)], dropped=3))

    assert document["type"] == "activity" and document["dropped"] == 3
    assert document["events"] == [
        {"at": 1000, "kind": "webhook_sent", "code": 1, "detail": "http://h/w", "data": [{"n": 1}]}
    ]


def test_figures_list_occupied_channels_in_order_up_to_the_limit() -> None:
    channels = {
        "b": ChannelStats(2, None),
        "a": ChannelStats(1, None),
        "empty": ChannelStats(0, None),
        "presence-c": ChannelStats(3, 2),
    }

    document = payload(stats_frame(7, channels, limit=2))

    assert document == {
        "type": "stats",
        "connections": 7,
        "channel_count": 3,
        "channels": [
            {"name": "a", "subscription_count": 1, "user_count": None},
            {"name": "b", "subscription_count": 2, "user_count": None},
        ],
    }
