"""This node's own sockets, indexed by channel, signed-in user and watched user, and the
presence members they hold.

Every driver keeps one: whatever it shares with other nodes, the last hop is a write of one
pre-built frame to each local socket, done here synchronously. The memory driver's presence is
this node's; the Redis driver keeps the same local view to answer while Redis is away and to
re-register its share.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tidings.hub.base import Subscriber
from tidings.protocol import messages
from tidings.protocol.channels import Kind, channel_type
from tidings.protocol.errors import Code, SubscriptionError
from tidings.protocol.framing import text_frame
from tidings.protocol.presence import Member

Sockets = dict[str, Subscriber]
TERMINATED = "You got disconnected by the app."


def presence_full(channel: str, limit: int) -> SubscriptionError:
    return SubscriptionError(
        channel,
        "LimitReached",
        f"The presence channel is full ({limit} members)",
        int(Code.OVER_CAPACITY),
    )


@dataclass(slots=True)
class LocalMember:
    user_info: Any
    sockets: int = 0  # this user's sockets in the channel, on this node


@dataclass(slots=True)
class _AppSockets:
    channels: dict[str, Sockets] = field(default_factory=dict)
    users: dict[str, Sockets] = field(default_factory=dict)
    watchers: dict[str, Sockets] = field(default_factory=dict)
    presence: dict[str, dict[str, LocalMember]] = field(default_factory=dict)

    def empty(self) -> bool:
        return not (self.channels or self.users or self.watchers or self.presence)


@dataclass(slots=True)
class Traffic:
    """Frames handed to this node's sockets by broadcasts, counted once per broadcast."""

    messages: int = 0
    size: int = 0  # bytes

    def add(self, sockets: int, frame: bytes) -> None:
        self.messages += sockets
        self.size += sockets * len(frame)


@dataclass(slots=True)
class Census:
    """One app's channels, subscriptions and presence members on this node, by channel kind."""

    channels: dict[str, int] = field(default_factory=dict)
    subscriptions: dict[str, int] = field(default_factory=dict)
    presence_members: int = 0


def kind_label(channel: str) -> str:
    """``public``, ``private``, ``presence``, ``encrypted`` or, for any cache channel, ``cache``."""
    kind = channel_type(channel)
    if kind.cached:
        return "cache"
    return "encrypted" if kind.kind is Kind.ENCRYPTED else kind.kind.value


class LocalSockets:
    def __init__(self) -> None:
        self._apps: dict[str, _AppSockets] = {}
        # Per app, kept after the app's last socket leaves: counters never go back.
        self.traffic: dict[str, Traffic] = {}

    def _traffic(self, app_id: str) -> Traffic:
        traffic = self.traffic.get(app_id)
        if traffic is None:
            traffic = self.traffic[app_id] = Traffic()
        return traffic

    def _app(self, app_id: str) -> _AppSockets:
        sockets = self._apps.get(app_id)
        if sockets is None:
            sockets = self._apps[app_id] = _AppSockets()
        return sockets

    def _prune(self, app_id: str) -> None:
        sockets = self._apps.get(app_id)
        if sockets is not None and sockets.empty():
            del self._apps[app_id]

    def app_ids(self) -> list[str]:
        return list(self._apps)

    # -- channels -----------------------------------------------------------------------------
    def subscribers(self, app_id: str, channel: str) -> Sockets:
        sockets = self._apps.get(app_id)
        return (sockets.channels.get(channel) if sockets is not None else None) or {}

    def channel_names(self, app_id: str) -> list[str]:
        sockets = self._apps.get(app_id)
        return list(sockets.channels) if sockets is not None else []

    def holds(self, app_id: str, channel: str, socket_id: str) -> bool:
        return socket_id in self.subscribers(app_id, channel)

    def join(self, app_id: str, channel: str, conn: Subscriber) -> int:
        """Add ``conn``; returns how many local subscribers the channel has now."""
        subscribers = self._app(app_id).channels.setdefault(channel, {})
        subscribers[conn.socket_id] = conn
        return len(subscribers)

    def leave(self, app_id: str, channel: str, socket_id: str) -> int | None:
        """Remove a socket; None if it was not subscribed, else the local subscribers left."""
        sockets = self._apps.get(app_id)
        subscribers = sockets.channels.get(channel) if sockets is not None else None
        if sockets is None or subscribers is None or subscribers.pop(socket_id, None) is None:
            return None
        if not subscribers:
            del sockets.channels[channel]
            self._prune(app_id)
        return len(subscribers)

    def deliver(
        self, app_id: str, channel: str, payload: bytes, except_socket_id: str | None = None
    ) -> None:
        """Frame ``payload`` once, and only if somebody here listens, then broadcast it."""
        if self.subscribers(app_id, channel):
            self.broadcast(app_id, channel, text_frame(payload), except_socket_id)

    def broadcast(
        self, app_id: str, channel: str, frame: bytes, except_socket_id: str | None = None
    ) -> None:
        """Write one pre-built frame to every local subscriber but ``except_socket_id``."""
        subscribers = self.subscribers(app_id, channel)
        if except_socket_id is None:
            for conn in subscribers.values():
                conn.send(frame)
            count = len(subscribers)
        else:
            for socket_id, conn in subscribers.items():
                if socket_id != except_socket_id:
                    conn.send(frame)
            count = len(subscribers) - (except_socket_id in subscribers)
        self._traffic(app_id).add(count, frame)

    # -- presence -----------------------------------------------------------------------------
    def members(self, app_id: str, channel: str) -> dict[str, LocalMember]:
        sockets = self._apps.get(app_id)
        return (sockets.presence.get(channel) if sockets is not None else None) or {}

    def member_infos(self, app_id: str, channel: str) -> dict[str, Any]:
        return {user_id: m.user_info for user_id, m in self.members(app_id, channel).items()}

    def add_member(self, app_id: str, channel: str, member: Member) -> bool:
        """Count one more socket of ``member``; True when it is the user's first here."""
        users = self._app(app_id).presence.setdefault(channel, {})
        entry = users.get(member.user_id)
        first = entry is None
        if entry is None:
            entry = users[member.user_id] = LocalMember(member.user_info)
        entry.sockets += 1
        return first

    def remove_member(self, app_id: str, channel: str, user_id: str) -> bool:
        """Count one socket of ``user_id`` less; True when it was the user's last here."""
        app = self._apps.get(app_id)
        users = app.presence.get(channel) if app is not None else None
        entry = users.get(user_id) if users is not None else None
        if app is None or users is None or entry is None:
            return False
        entry.sockets -= 1
        if entry.sockets > 0:
            return False
        del users[user_id]
        if not users:
            del app.presence[channel]
            self._prune(app_id)
        return True

    # -- users --------------------------------------------------------------------------------
    def user_sockets(self, app_id: str, user_id: str) -> Sockets:
        sockets = self._apps.get(app_id)
        return (sockets.users.get(user_id) if sockets is not None else None) or {}

    def signed_in_users(self, app_id: str) -> dict[str, int]:
        sockets = self._apps.get(app_id)
        return {u: len(s) for u, s in sockets.users.items()} if sockets is not None else {}

    def sign_in(self, app_id: str, user_id: str, conn: Subscriber) -> bool:
        """Record a signed-in socket; True when it is the user's first on this node."""
        sockets = self._app(app_id).users.setdefault(user_id, {})
        first = not sockets
        sockets[conn.socket_id] = conn
        return first

    def sign_out(self, app_id: str, user_id: str, socket_id: str) -> bool:
        """Forget a signed-in socket; True when it was the user's last on this node."""
        app = self._apps.get(app_id)
        sockets = app.users.get(user_id) if app is not None else None
        if app is None or sockets is None or sockets.pop(socket_id, None) is None:
            return False
        if sockets:
            return False
        del app.users[user_id]
        self._prune(app_id)
        return True

    def send_to_user(self, app_id: str, user_id: str, payload: bytes) -> None:
        """Frame once, if the user has sockets here, and write it to each of them."""
        sockets = self.user_sockets(app_id, user_id)
        if sockets:
            frame = text_frame(payload)
            for conn in sockets.values():
                conn.send(frame)
            self._traffic(app_id).add(len(sockets), frame)

    def terminate_user(self, app_id: str, user_id: str) -> None:
        for conn in list(self.user_sockets(app_id, user_id).values()):
            conn.terminate(int(Code.UNAUTHORIZED), TERMINATED)

    # -- watchlists ---------------------------------------------------------------------------
    def watched_users(self, app_id: str) -> list[str]:
        sockets = self._apps.get(app_id)
        return list(sockets.watchers) if sockets is not None else []

    def watch(self, app_id: str, watched: str, conn: Subscriber) -> bool:
        """Add a watcher of ``watched``; True when it is the first on this node."""
        watchers = self._app(app_id).watchers.setdefault(watched, {})
        first = not watchers
        watchers[conn.socket_id] = conn
        return first

    def unwatch(self, app_id: str, socket_id: str) -> list[str]:
        """Drop a socket from every watchlist; returns the users nobody here watches any more."""
        app = self._apps.get(app_id)
        if app is None:
            return []
        unwatched = []
        for watched in list(app.watchers):
            group = app.watchers[watched]
            if group.pop(socket_id, None) is not None and not group:
                del app.watchers[watched]
                unwatched.append(watched)
        self._prune(app_id)
        return unwatched

    def notify_watchers(self, app_id: str, user_id: str, name: str) -> None:
        app = self._apps.get(app_id)
        watchers = app.watchers.get(user_id) if app is not None else None
        if watchers:
            frame = text_frame(messages.watchlist_events([{"name": name, "user_ids": [user_id]}]))
            for conn in watchers.values():
                conn.send(frame)
            self._traffic(app_id).add(len(watchers), frame)

    # -- figures for metrics ------------------------------------------------------------------
    def census(self) -> dict[str, Census]:
        """Counted when asked (a scrape), so subscribing and leaving pay nothing for it."""
        result = {}
        for app_id, app in self._apps.items():
            census = result[app_id] = Census()
            for channel, subscribers in app.channels.items():
                kind = kind_label(channel)
                census.channels[kind] = census.channels.get(kind, 0) + 1
                census.subscriptions[kind] = census.subscriptions.get(kind, 0) + len(subscribers)
            census.presence_members = sum(len(users) for users in app.presence.values())
        return result
