"""``tidings:replay`` in the session: allowed on a subscribed history channel, refused otherwise."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from tidings.apps import App
from tidings.apps.history import HistoryRule
from tidings.protocol.errors import Code, PusherError
from tidings.session import Replay, Session

RULE = HistoryRule("agent-*", max_events=50, ttl=60)
APP = App(id="1", key="key", secret="secret", history=(RULE,), max_client_events_per_sec=3)


def replay(session: Session, channel: str | None, data: Any = None, now: float = 0.0) -> Any:
    body: dict[str, Any] = {"event": "tidings:replay", "data": data}
    if channel is not None:
        body["channel"] = channel
    return session.receive(orjson.dumps(body), now)


def subscribed(app: App = APP, channel: str = "agent-1") -> Session:
    session = Session(app, "1.1")
    session.receive(orjson.dumps({"event": "pusher:subscribe", "data": {"channel": channel}}), 0)
    return session


def test_a_subscriber_asks_for_the_events_after_a_serial_of_an_epoch() -> None:
    command = replay(subscribed(), "agent-1", {"after": 7, "epoch": "e1"})
    assert command == Replay("agent-1", RULE, 7, "e1")


def test_after_and_epoch_may_be_left_out_and_data_may_be_a_string() -> None:
    assert replay(subscribed(), "agent-1") == Replay("agent-1", RULE, 0, None)
    assert replay(subscribed(), "agent-1", '{"after": 2}') == Replay("agent-1", RULE, 2, None)


@pytest.mark.parametrize(
    ("channel", "data", "fragment"),
    [
        ("agent-2", {"after": 1}, "subscribe to the channel first"),
        (None, {"after": 1}, "subscribe to the channel first"),
        ("agent-1", {"after": -1}, "an integer >= 0"),
        ("agent-1", {"after": "3"}, "an integer >= 0"),
        ("agent-1", {"after": True}, "an integer >= 0"),
        ("agent-1", {"epoch": 5}, "data.epoch must be a string"),
        ("agent-1", [1], "data must be an object"),
    ],
)
def test_bad_replays_are_refused_saying_why(channel: str | None, data: Any, fragment: str) -> None:
    with pytest.raises(PusherError) as refused:
        replay(subscribed(), channel, data)
    assert fragment in refused.value.message
    assert refused.value.code == Code.REPLAY_REJECTED
    assert refused.value.channel == channel  # the add-on tells which replay was refused
    assert not refused.value.close  # an error frame; the connection stays


def test_a_channel_without_history_cannot_be_replayed() -> None:
    with pytest.raises(PusherError) as refused:
        replay(subscribed(channel="news"), "news", {"after": 0})
    assert refused.value.code == Code.REPLAY_REJECTED
    assert "keeps no history" in refused.value.message


def test_replays_share_the_client_event_rate_limit() -> None:
    session = subscribed()
    for _ in range(3):
        assert isinstance(replay(session, "agent-1", {"after": 0}, now=10.0), Replay)
    with pytest.raises(PusherError) as refused:
        replay(session, "agent-1", {"after": 0}, now=10.5)
    assert "rate limit exceeded (3 per second)" in refused.value.message
    assert refused.value.channel == "agent-1"
    assert isinstance(replay(session, "agent-1", {"after": 0}, now=11.0), Replay)


def test_replays_need_no_client_events_enabled() -> None:
    assert not APP.enable_client_events
    assert isinstance(replay(subscribed(), "agent-1"), Replay)
