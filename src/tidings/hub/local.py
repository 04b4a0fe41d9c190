"""This node's own sockets, indexed by channel, signed-in user and watched user.

Every driver keeps one: whatever it shares with other nodes, the last hop is a write of one
pre-built frame to each local socket, done here synchronously.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tidings.hub.base import Subscriber
from tidings.protocol import messages
from tidings.protocol.framing import text_frame

Sockets = dict[str, Subscriber]


@dataclass(slots=True)
class _AppSockets:
    channels: dict[str, Sockets] = field(default_factory=dict)
    users: dict[str, Sockets] = field(default_factory=dict)
    watchers: dict[str, Sockets] = field(default_factory=dict)

    def empty(self) -> bool:
        return not (self.channels or self.users or self.watchers)


class LocalSockets:
    def __init__(self) -> None:
        self._apps: dict[str, _AppSockets] = {}

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

    def broadcast(
        self, app_id: str, channel: str, frame: bytes, except_socket_id: str | None = None
    ) -> None:
        """Write one pre-built frame to every local subscriber but ``except_socket_id``."""
        subscribers = self.subscribers(app_id, channel)
        if except_socket_id is None:
            for conn in subscribers.values():
                conn.send(frame)
        else:
            for socket_id, conn in subscribers.items():
                if socket_id != except_socket_id:
                    conn.send(frame)

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

    def send_to_user(self, app_id: str, user_id: str, frame: bytes) -> None:
        for conn in self.user_sockets(app_id, user_id).values():
            conn.send(frame)

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
