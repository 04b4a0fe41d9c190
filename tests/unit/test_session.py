"""The connection state machine, driven frame by frame with no network."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest

from tidings.apps import App, StaticAppStore
from tidings.protocol import messages
from tidings.protocol.channels import Kind
from tidings.protocol.errors import Code, PusherError, SubscriptionError
from tidings.protocol.presence import Member
from tidings.protocol.signatures import sign
from tidings.session import (
    ClientEvent,
    Session,
    SignIn,
    Subscribe,
    Unsubscribe,
    open_session,
)

APP = App(id="1", key="key", secret="secret", enable_client_events=True)
SOCKET = "1.1"


def frame(event: str, data: Any = None, channel: str | None = None) -> bytes:
    body: dict[str, Any] = {"event": event, "data": data if data is not None else {}}
    if channel is not None:
        body["channel"] = channel
    return orjson.dumps(body)


def auth(message: str) -> str:
    return f"key:{sign('secret', message)}"


def subscribe(session: Session, channel: str, **data: Any) -> Any:
    return session.receive(frame("pusher:subscribe", {"channel": channel, **data}), 0.0)


def test_handshake_checks_key_and_protocol() -> None:
    store = StaticAppStore([APP, App(id="2", key="off", secret="s", enabled=False)])
    assert open_session("key", {"protocol": "7"}, store) is APP
    assert open_session("key", {}, store) is APP  # lenient: absent means current
    cases = [
        ("nope", {}, Code.APP_NOT_FOUND),
        ("off", {}, Code.APP_DISABLED),
        ("key", {"protocol": "3"}, Code.UNSUPPORTED_PROTOCOL),
        ("key", {"protocol": "x"}, Code.INVALID_VERSION),
    ]
    for key, query, code in cases:
        with pytest.raises(PusherError) as caught:
            open_session(key, query, store)
        assert caught.value.code == code and caught.value.close


def test_ping_gets_pong_and_unknown_events_are_ignored() -> None:
    session = Session(APP, SOCKET)
    assert session.receive(frame("pusher:ping"), 0) == messages.PONG
    assert session.receive(frame("pusher:pong"), 0) is None
    assert session.receive(frame("pusher:whatever"), 0) is None


def test_public_subscribe_and_unsubscribe() -> None:
    session = Session(APP, SOCKET)
    command = subscribe(session, "news", auth="")
    assert isinstance(command, Subscribe) and command.type.kind is Kind.PUBLIC
    assert session.receive(frame("pusher:unsubscribe", {"channel": "news"}), 0) == (
        Unsubscribe("news", None)
    )
    assert session.receive(frame("pusher:unsubscribe", {"channel": "news"}), 0) is None


def test_private_subscription_needs_a_valid_signature() -> None:
    session = Session(APP, SOCKET)
    good = subscribe(session, "private-a", auth=auth("1.1:private-a"))
    assert isinstance(good, Subscribe)
    with pytest.raises(SubscriptionError) as caught:
        subscribe(session, "private-b", auth=auth("9.9:private-b"))
    assert (caught.value.kind, caught.value.status) == ("AuthError", 401)
    assert "private-b" not in session.subscriptions


def test_presence_member_comes_from_signed_channel_data() -> None:
    session = Session(APP, SOCKET)
    data = '{"user_id": 10, "user_info": {"name": "Ada"}}'
    command = subscribe(
        session, "presence-r", auth=auth(f"1.1:presence-r:{data}"), channel_data=data
    )
    assert command.member == Member("10", {"name": "Ada"})  # numeric ids become strings
    with pytest.raises(SubscriptionError, match="user_id"):
        bad = '{"user_info": {}}'
        subscribe(session, "presence-s", auth=auth(f"1.1:presence-s:{bad}"), channel_data=bad)


def test_presence_user_info_size_is_limited() -> None:
    session = Session(
        App(id="1", key="key", secret="secret", max_presence_member_size_in_kb=0.01), SOCKET
    )
    data = orjson.dumps({"user_id": "u", "user_info": {"bio": "x" * 50}}).decode()
    with pytest.raises(SubscriptionError, match="larger than 10 bytes"):
        subscribe(session, "presence-r", auth=auth(f"1.1:presence-r:{data}"), channel_data=data)


def test_signed_in_connection_may_join_presence_without_channel_data() -> None:
    session = Session(APP, SOCKET)
    user_data = '{"id":"u-17","user_info":{"name":"Ada"}}'
    signed = session.receive(
        frame("pusher:signin", {"user_data": user_data, "auth": auth(f"1.1::user::{user_data}")}), 0
    )
    assert isinstance(signed, SignIn) and signed.user.id == "u-17"
    command = subscribe(session, "presence-r", auth=auth("1.1:presence-r"))
    assert command.member == Member("u-17", {"name": "Ada"})


def test_server_to_user_channel_only_for_that_user() -> None:
    session = Session(APP, SOCKET)
    with pytest.raises(SubscriptionError):
        subscribe(session, "#server-to-user-u-17")
    user_data = '{"id":"u-17"}'
    session.receive(
        frame("pusher:signin", {"user_data": user_data, "auth": auth(f"1.1::user::{user_data}")}), 0
    )
    assert isinstance(subscribe(session, "#server-to-user-u-17"), Subscribe)
    with pytest.raises(SubscriptionError):
        subscribe(session, "#server-to-user-someone-else")


def test_signin_refuses_bad_signatures_and_a_second_identity() -> None:
    session = Session(APP, SOCKET)
    with pytest.raises(PusherError) as caught:
        session.receive(frame("pusher:signin", {"user_data": '{"id":"1"}', "auth": "key:00"}), 0)
    assert caught.value.code == Code.UNAUTHORIZED and not caught.value.close
    for user_id in ("a", "b"):
        user_data = f'{{"id":"{user_id}"}}'
        message = frame(
            "pusher:signin", {"user_data": user_data, "auth": auth(f"1.1::user::{user_data}")}
        )
        if user_id == "a":
            session.receive(message, 0)
        else:
            with pytest.raises(PusherError, match="already signed in"):
                session.receive(message, 0)


def test_watchlist_is_capped_at_100() -> None:
    session = Session(APP, SOCKET)
    user_data = orjson.dumps({"id": "me", "watchlist": [str(i) for i in range(105)]}).decode()
    command = session.receive(
        frame("pusher:signin", {"user_data": user_data, "auth": auth(f"1.1::user::{user_data}")}), 0
    )
    assert isinstance(command, SignIn)
    assert len(command.user.watchlist) == 100 and command.dropped_watchlist == 5


def joined_private(app: App = APP) -> Session:
    session = Session(app, SOCKET)
    subscribe(session, "private-chat", auth=auth("1.1:private-chat"))
    return session


def test_client_event_on_a_subscribed_private_channel() -> None:
    session = joined_private()
    command = session.receive(frame("client-typing", {"on": True}, "private-chat"), 0)
    assert command == ClientEvent("private-chat", "client-typing", {"on": True}, None)


@pytest.mark.parametrize(
    ("app", "channel", "fragment"),
    [
        (App(id="1", key="key", secret="secret"), "private-chat", "not have client events"),
        (APP, "private-other", "not subscribed"),
        (APP, None, "not subscribed"),
    ],
)
def test_client_events_rejected_with_4301(app: App, channel: str | None, fragment: str) -> None:
    session = joined_private(app)
    with pytest.raises(PusherError) as caught:
        session.receive(frame("client-x", {}, channel), 0)
    assert caught.value.code == Code.CLIENT_EVENT_REJECTED and fragment in caught.value.message
    assert not caught.value.close  # a 43xx code is never a close code


def test_client_events_not_on_public_channels() -> None:
    session = Session(APP, SOCKET)
    subscribe(session, "news")
    with pytest.raises(PusherError, match="only allowed on private and presence"):
        session.receive(frame("client-x", {}, "news"), 0)


def test_client_event_rate_limit_per_second() -> None:
    session = joined_private(
        App(
            id="1",
            key="key",
            secret="secret",
            enable_client_events=True,
            max_client_events_per_sec=2,
        )
    )
    message = frame("client-x", {}, "private-chat")
    session.receive(message, 10.0)
    session.receive(message, 10.5)
    with pytest.raises(PusherError, match="rate limit"):
        session.receive(message, 10.9)
    assert isinstance(session.receive(message, 11.0), ClientEvent)  # a new second


def test_client_event_size_limit() -> None:
    session = joined_private()
    with pytest.raises(PusherError, match="limit is 10240"):
        session.receive(frame("client-x", {"blob": "x" * 11000}, "private-chat"), 0)


def test_authorized_means_signed_in_or_holding_an_authorised_channel() -> None:
    session = Session(APP, SOCKET)
    subscribe(session, "news")
    assert not session.authorized
    subscribe(session, "private-chat", auth=auth("1.1:private-chat"))
    assert session.authorized


def deeply_nested(depth: int = 300) -> Any:
    """Read by orjson (up to 1024 levels) but not written back (over 254)."""
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


def test_values_too_deep_to_send_again_are_refused() -> None:
    """Found by fuzzing (test_session_properties): each of these raised orjson's TypeError, so
    the server logged a fault and a presence channel could hold a member it cannot encode."""
    session = Session(APP, SOCKET)
    subscribe(session, "private-a", auth=auth("1.1:private-a"))
    with pytest.raises(PusherError, match="nested too deeply") as caught:
        text = json.dumps({"event": "client-x", "channel": "private-a", "data": deeply_nested()})
        session.receive(text, 0)
    assert caught.value.code == Code.CLIENT_EVENT_REJECTED
    data = json.dumps({"user_id": "u", "user_info": deeply_nested(252)})
    with pytest.raises(SubscriptionError, match="nested too deeply"):
        subscribe(session, "presence-r", auth=auth(f"1.1:presence-r:{data}"), channel_data=data)
    user_data = json.dumps({"id": "u-17", "user_info": deeply_nested(252)})
    signin = {"user_data": user_data, "auth": auth(f"1.1::user::{user_data}")}
    with pytest.raises(PusherError, match="nested too deeply"):
        session.receive(frame("pusher:signin", signin), 0)
    assert session.user is None
