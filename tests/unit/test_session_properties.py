"""The session on any sequence of client frames: every frame gets a command whose replies can
be encoded, or a documented refusal (``pusher:error`` / ``pusher:subscription_error``); no
other exception, whatever the bytes, the JSON shape or the signature."""

from __future__ import annotations

import json
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.strategies import any_json_value, json_text
from tidings.apps import App
from tidings.protocol import messages
from tidings.protocol.channels import channel_name_problem
from tidings.protocol.errors import Code, PusherError, SubscriptionError
from tidings.protocol.signatures import sign
from tidings.session import ClientEvent, Session, SignIn, Subscribe, Unsubscribe

SOCKET = "1234.5678"
APP = App(id="1", key="key", secret="secret", enable_client_events=True)
# The same credentials with the limits moved: tiny, default, or off.
apps = st.builds(
    App,
    id=st.just("1"),
    key=st.just(APP.key),
    secret=st.just(APP.secret),
    enable_client_events=st.booleans(),
    max_client_events_per_sec=st.sampled_from([-1, 0, 10]),
    max_presence_member_size_in_kb=st.sampled_from([0.001, 1.0]),
    max_channel_name_length=st.sampled_from([3, 200]),
    max_event_name_length=st.sampled_from([8, 200]),
    max_event_payload_in_kb=st.sampled_from([0.01, 10.0]),
)
SUBSCRIPTION_ERRORS = {"InvalidChannel": {4009}, "AuthError": {401}, "InvalidChannelData": {400}}
EVENTS = ["pusher:ping", "pusher:pong", "pusher:subscribe", "pusher:unsubscribe", "pusher:signin"]

# A few names most of the time, so that later frames meet the channels earlier ones joined.
channels = st.sampled_from(
    ["room", "private-room", "presence-room", "private-encrypted-room", "#server-to-user-u-1"]
) | st.builds(
    str.__add__,
    st.sampled_from(["", "private-", "presence-", "cache-", "presence-cache-", "#server-to-user-"]),
    st.sampled_from(["a", "x" * 200]) | st.text(max_size=10),
)
user_ids = st.sampled_from(["u-1", "7", "", "u 1"]) | st.integers() | any_json_value


def _token(message: str) -> str:
    return f"{APP.key}:{sign(APP.secret, message)}"


@st.composite
def subscribes(draw: st.DrawFn) -> dict[str, Any]:
    """Mostly correctly signed, so the frames get past the signature to what it covers."""
    channel = draw(channels)
    data: dict[str, Any] = {"channel": channel}
    if channel.startswith("presence-") or draw(st.integers(0, 3)) == 0:
        member = {"user_id": draw(user_ids), "user_info": draw(any_json_value)}
        data["channel_data"] = draw(st.just(json.dumps(member)) | json_text)
    if draw(st.integers(0, 3)):
        data["auth"] = _token(channel_auth_string_for(channel, data.get("channel_data")))
    else:
        data["auth"] = draw(st.text(max_size=10) | any_json_value)
    return data


def channel_auth_string_for(channel: str, channel_data: str | None) -> str:
    return f"{SOCKET}:{channel}" if channel_data is None else f"{SOCKET}:{channel}:{channel_data}"


@st.composite
def sign_ins(draw: st.DrawFn) -> dict[str, Any]:
    user = {
        "id": draw(user_ids),
        "user_info": draw(any_json_value),
        "watchlist": draw(st.lists(user_ids, max_size=3) | any_json_value),
    }
    user_data = draw(st.just(json.dumps(user)) | json_text)
    auth = _token(f"{SOCKET}::user::{user_data}")
    return {"user_data": user_data, "auth": draw(st.just(auth) | st.text(max_size=5))}


def _frame(event: str, data: Any, channel: str | None) -> str:
    body: dict[str, Any] = {"event": event, "data": data}
    if channel is not None:
        body["channel"] = channel
    return json.dumps(body)


pusher_frames = st.builds(
    _frame,
    st.sampled_from(EVENTS) | st.text(max_size=10),
    subscribes() | sign_ins() | any_json_value | subscribes().map(json.dumps),
    st.none() | channels,
)
client_events = st.builds(
    _frame,
    st.builds(str.__add__, st.just("client-"), st.text(max_size=10)),
    any_json_value,
    st.sampled_from(["private-room", "presence-room"]) | st.none() | channels,
)
frames = st.one_of(
    st.text(),
    st.binary(),
    json_text,
    pusher_frames,
    st.builds(_frame, st.just("pusher:subscribe"), subscribes(), st.none()),
    st.builds(_frame, st.just("pusher:signin"), sign_ins(), st.none()),
    client_events,
)


def _replies_for(command: object, session: Session) -> list[bytes]:
    app = session.app
    """What the server sends for a command (hub answers aside): all of it must encode."""
    if isinstance(command, bytes):
        assert command == messages.PONG
        return [command]
    if isinstance(command, Subscribe):
        assert channel_name_problem(command.channel, app.max_channel_name_length) is None
        assert command.channel in session.subscriptions
        if command.member is None:
            return [messages.subscription_succeeded(command.channel)]
        member = command.member
        snapshot = messages.presence_snapshot({member.user_id: member.user_info})
        return [
            messages.subscription_succeeded(command.channel, snapshot),
            messages.member_added(command.channel, member.user_id, member.user_info),
        ]
    if isinstance(command, Unsubscribe):
        assert command.channel not in session.subscriptions
        return []
    if isinstance(command, ClientEvent):
        assert app.enable_client_events and command.channel in session.subscriptions
        assert len(command.event) <= app.max_event_name_length
        return [messages.event(command.event, command.channel, command.data, command.user_id)]
    if isinstance(command, SignIn):
        user = command.user
        snapshot = messages.presence_snapshot({user.id: user.user_info})
        return [
            messages.signin_success(command.user_data),
            messages.subscription_succeeded("presence-x", snapshot),
        ]
    assert command is None
    return []


def _refusal(error: Exception) -> bytes:
    if isinstance(error, PusherError):
        assert error.code is None or isinstance(error.code, Code)
        assert isinstance(error.message, str) and error.message
        return messages.error(error.code, error.message)
    assert isinstance(error, SubscriptionError)
    assert error.status in SUBSCRIPTION_ERRORS[error.kind]
    return messages.subscription_error(error.channel, error.kind, error.message, error.status)


def _joined(channel: str) -> str:
    """A correctly signed subscribe, as pusher-js sends after asking the app's auth endpoint."""
    data: dict[str, Any] = {"channel": channel}
    if channel.startswith("presence-"):
        data["channel_data"] = json.dumps({"user_id": "u-1", "user_info": {"name": "Ada"}})
    data["auth"] = _token(channel_auth_string_for(channel, data.get("channel_data")))
    return _frame("pusher:subscribe", data, None)


# Joined first, in any order, so that the frames after them reach a live connection's states.
preludes = st.permutations(["room", "private-room", "presence-room"])


# The deepest target of the suite: twice the profile's examples.
@settings(max_examples=2 * settings.default.max_examples)
@given(
    st.just(APP) | apps,
    preludes.map(lambda joined: [_joined(channel) for channel in joined]),
    st.lists(frames, min_size=3, max_size=25),
    st.lists(st.floats(0, 2), min_size=25, max_size=25),
)
def test_any_frames_get_a_valid_reply_or_a_documented_error(
    app: App, prelude: list[str], sent: list[str | bytes], pauses: list[float]
) -> None:
    session = Session(app, SOCKET)
    now = 0.0
    for index, text in enumerate(prelude + sent):
        now += pauses[index % len(pauses)]
        try:
            command = session.receive(text, now)
        except (PusherError, SubscriptionError) as error:
            replies = [_refusal(error)]
        else:
            replies = _replies_for(command, session)
        for reply in replies:
            assert isinstance(orjson.loads(reply)["event"], str)
        for channel in session.subscriptions:
            assert channel_name_problem(channel, app.max_channel_name_length) is None
