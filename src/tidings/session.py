"""One connection's protocol state machine: client frames in, commands and replies out.

Pure: no sockets, no awaits, no clock of its own (``now`` is passed in). The asyncio layer
(``tidings.server.connection``) carries out the commands against the hub and writes the replies.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from tidings.apps import App, AppStore
from tidings.apps.history import HistoryRule
from tidings.protocol import messages
from tidings.protocol.channels import (
    SERVER_TO_USER_PREFIX,
    ChannelType,
    Kind,
    channel_name_problem,
    channel_type,
    user_id_problem,
)
from tidings.protocol.errors import Code, PusherError, RateLimited, SubscriptionError
from tidings.protocol.presence import Member, normalise_user_id, parse_channel_data
from tidings.protocol.signatures import channel_auth_valid, user_auth_valid

SUPPORTED_PROTOCOLS = range(4, 8)
WATCHLIST_LIMIT = 100


def open_session(key: str, query: Mapping[str, str], apps: AppStore) -> App:
    """Check a new WebSocket's app key and protocol version (PROTOCOL.md section 2)."""
    app = apps.by_key(key)
    if app is None:
        raise PusherError(Code.APP_NOT_FOUND, f"App key {key} does not exist.", close=True)
    if not app.enabled:
        raise PusherError(Code.APP_DISABLED, "Application is disabled.", close=True)
    version = query.get("protocol")
    if version is not None:  # absent: be lenient and assume the current version
        if not version.isdigit():
            raise PusherError(
                Code.INVALID_VERSION, f"Invalid protocol version {version!r}.", close=True
            )
        if int(version) not in SUPPORTED_PROTOCOLS:
            raise PusherError(
                Code.UNSUPPORTED_PROTOCOL,
                f"Unsupported protocol version {version}; use 4 to 7.",
                close=True,
            )
    return app


@dataclass(frozen=True, slots=True)
class User:
    id: str
    user_info: Any
    watchlist: tuple[str, ...]


# Commands for the I/O layer. Replies the session can decide alone come back as bytes.
@dataclass(frozen=True, slots=True)
class Subscribe:
    channel: str
    type: ChannelType
    member: Member | None


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    channel: str
    member: Member | None


@dataclass(frozen=True, slots=True)
class ClientEvent:
    channel: str
    event: str
    data: Any
    user_id: str | None


@dataclass(frozen=True, slots=True)
class Replay:
    """``tidings:replay``: send this socket the kept events of ``channel`` after ``after``."""

    channel: str
    rule: HistoryRule
    after: int
    epoch: str | None


@dataclass(frozen=True, slots=True)
class SignIn:
    user: User
    user_data: str
    dropped_watchlist: int


Command = Subscribe | Unsubscribe | ClientEvent | SignIn | Replay | bytes | None


@dataclass(slots=True)
class Session:
    app: App
    socket_id: str
    subscriptions: dict[str, Member | None] = field(default_factory=dict)
    user: User | None = None
    _rate_window: float = 0.0
    _rate_count: int = 0

    @property
    def authorized(self) -> bool:
        """Signed in or holding an authorised channel (the hosted "authorized connections")."""
        return self.user is not None or any(
            channel_type(name).needs_auth for name in self.subscriptions
        )

    def receive(self, text: str | bytes, now: float) -> Command:
        frame = messages.decode(text)
        event = frame.event
        if event == "pusher:ping":
            return messages.PONG
        if event == "pusher:pong":
            return None
        if event == "pusher:subscribe":
            return self._subscribe(messages.data_object(frame))
        if event == "pusher:unsubscribe":
            channel = messages.data_object(frame).get("channel")
            if isinstance(channel, str) and channel in self.subscriptions:
                return Unsubscribe(channel, self.subscriptions.pop(channel))
            return None
        if event == "pusher:signin":
            return self._sign_in(messages.data_object(frame))
        if event.startswith("client-"):
            return self._client_event(frame, now)
        if event == "tidings:replay":
            return self._replay(frame, now)
        return None  # unknown events are ignored, as the hosted service does

    def forget(self, channel: str) -> None:
        """Undo a subscription the hub refused (e.g. a full presence channel)."""
        self.subscriptions.pop(channel, None)

    def _subscribe(self, data: dict[str, Any]) -> Subscribe:
        channel = data.get("channel")
        if not isinstance(channel, str):
            raise PusherError(None, "pusher:subscribe needs data.channel (a string)")
        problem = channel_name_problem(channel, self.app.max_channel_name_length)
        if problem:  # status 4009 as soketi sends for a bad name
            raise SubscriptionError(channel, "InvalidChannel", problem, 4009)
        kind = channel_type(channel)
        member: Member | None = None
        if kind.kind is Kind.SERVER_TO_USER:
            user_id = channel[len(SERVER_TO_USER_PREFIX) :]
            if self.user is None or self.user.id != user_id:
                raise SubscriptionError(
                    channel, "AuthError", "Sign in as this user to subscribe to its channel", 401
                )
        elif kind.needs_auth:
            member = self._authorize(channel, kind, data)
        self.subscriptions[channel] = member
        return Subscribe(channel, kind, member)

    def _authorize(self, channel: str, kind: ChannelType, data: dict[str, Any]) -> Member | None:
        auth = data.get("auth")
        channel_data = data.get("channel_data")
        app = self.app
        if not kind.is_presence:
            if channel_auth_valid(app.key, app.secret, self.socket_id, channel, auth, None):
                return None
            raise self._auth_error(channel, f"{self.socket_id}:{channel}")
        if channel_data is None and self.user is not None:
            # The auth endpoint may omit channel_data for a signed-in connection.
            if channel_auth_valid(app.key, app.secret, self.socket_id, channel, auth, None):
                return Member(self.user.id, self.user.user_info)
            raise self._auth_error(channel, f"{self.socket_id}:{channel}")
        signed = channel_data if isinstance(channel_data, str) else None
        if not channel_auth_valid(app.key, app.secret, self.socket_id, channel, auth, signed):
            raise self._auth_error(channel, f"{self.socket_id}:{channel}:{channel_data}")
        try:
            return parse_channel_data(channel_data, app.max_presence_member_bytes)
        except ValueError as exc:
            raise SubscriptionError(channel, "InvalidChannelData", str(exc), 400) from None

    @staticmethod
    def _auth_error(channel: str, signed: str) -> SubscriptionError:
        return SubscriptionError(
            channel,
            "AuthError",
            f"Invalid signature: expected HMAC SHA256 hex digest of {signed}",
            401,
        )

    def _sign_in(self, data: dict[str, Any]) -> SignIn:
        user_data = data.get("user_data")
        if not isinstance(user_data, str):
            raise PusherError(Code.UNAUTHORIZED, "pusher:signin needs user_data (a JSON string)")
        app = self.app
        if not user_auth_valid(app.key, app.secret, self.socket_id, user_data, data.get("auth")):
            raise PusherError(
                Code.UNAUTHORIZED,
                f"Invalid signature: expected HMAC SHA256 hex digest of "
                f"{self.socket_id}::user::{user_data}",
            )
        try:
            parsed = orjson.loads(user_data)
        except orjson.JSONDecodeError:
            raise PusherError(Code.UNAUTHORIZED, "user_data is not valid JSON") from None
        user_id = normalise_user_id(parsed.get("id")) if isinstance(parsed, dict) else None
        if user_id is None or user_id_problem(user_id):
            raise PusherError(Code.UNAUTHORIZED, "user_data must have a valid, non-empty id")
        if self.user is not None and self.user.id != user_id:
            raise PusherError(
                Code.UNAUTHORIZED, f"This connection is already signed in as {self.user.id}"
            )
        user_info = parsed.get("user_info")
        if messages.json_size(user_info) is None:  # it goes out in presence snapshots
            raise PusherError(Code.UNAUTHORIZED, "user_data's user_info is nested too deeply")
        watchlist_raw = parsed.get("watchlist") or []
        watchlist = tuple(
            uid
            for uid in map(
                normalise_user_id, watchlist_raw if isinstance(watchlist_raw, list) else []
            )
            if uid is not None
        )
        dropped = max(0, len(watchlist) - WATCHLIST_LIMIT)
        self.user = User(user_id, user_info, watchlist[:WATCHLIST_LIMIT])
        return SignIn(self.user, user_data, dropped)

    def _client_event(self, frame: messages.ClientFrame, now: float) -> ClientEvent:
        app = self.app
        channel = frame.channel
        if not app.enable_client_events:
            raise PusherError(
                Code.CLIENT_EVENT_REJECTED, "The app does not have client events enabled."
            )
        if channel is None or channel not in self.subscriptions:
            raise PusherError(
                Code.CLIENT_EVENT_REJECTED,
                f"Cannot broadcast client event (connection not subscribed to channel {channel})",
            )
        if not channel_type(channel).allows_client_events:
            raise PusherError(
                Code.CLIENT_EVENT_REJECTED,
                f"Client events are only allowed on private and presence channels, not {channel}",
            )
        if len(frame.event) > app.max_event_name_length:
            raise PusherError(
                Code.CLIENT_EVENT_REJECTED,
                f"Event name is longer than {app.max_event_name_length} characters",
            )
        size = messages.json_size(frame.data)
        if size is None:
            raise PusherError(Code.CLIENT_EVENT_REJECTED, "Client event data is nested too deeply")
        if size > app.max_event_payload_bytes:
            raise PusherError(
                Code.CLIENT_EVENT_REJECTED,
                f"Client event data is {size} bytes; the limit is {app.max_event_payload_bytes}",
            )
        self._count_against_rate(now, Code.CLIENT_EVENT_REJECTED, "Client event")
        member = self.subscriptions[channel]
        return ClientEvent(channel, frame.event, frame.data, member.user_id if member else None)

    def _count_against_rate(
        self, now: float, code: Code, what: str, channel: str | None = None
    ) -> None:
        """Client events and replays share the app's max_client_events_per_sec."""
        limit = self.app.max_client_events_per_sec
        if limit >= 0:
            if now - self._rate_window >= 1.0:
                self._rate_window, self._rate_count = now, 0
            if self._rate_count >= limit:
                raise RateLimited(
                    code, f"{what} rate limit exceeded ({limit} per second)", channel=channel
                )
            self._rate_count += 1

    def _replay(self, frame: messages.ClientFrame, now: float) -> Replay:
        channel = frame.channel
        if channel is None or channel not in self.subscriptions:
            raise PusherError(
                Code.REPLAY_REJECTED,
                f"Cannot replay {channel}: subscribe to the channel first "
                "(being subscribed is what allows reading its history)",
                channel=channel,
            )
        rule = self.app.history_rule(channel) if self.app.history else None
        if rule is None:
            raise PusherError(
                Code.REPLAY_REJECTED,
                f"Cannot replay {channel}: the app keeps no history for it "
                "(see 'history' in the app's configuration)",
                channel=channel,
            )
        try:
            data = {} if frame.data is None else messages.data_object(frame)
        except PusherError as error:
            code = error.code or Code.REPLAY_REJECTED
            raise PusherError(code, error.message, channel=channel) from None
        after = data.get("after", 0)
        if isinstance(after, bool) or not isinstance(after, int) or after < 0:
            raise PusherError(
                Code.REPLAY_REJECTED,
                f"tidings:replay needs data.after, the last serial seen (an integer >= 0), "
                f"got {after!r}",
                channel=channel,
            )
        epoch = data.get("epoch")
        if epoch is not None and not isinstance(epoch, str):
            raise PusherError(
                Code.REPLAY_REJECTED,
                f"tidings:replay's data.epoch must be a string, got {epoch!r}",
                channel=channel,
            )
        self._count_against_rate(now, Code.REPLAY_REJECTED, "Replay", channel)
        return Replay(channel, rule, after, epoch)
