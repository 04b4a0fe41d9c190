"""The embedded driver: all state in this process's memory."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tidings.apps import App
from tidings.events import EventBus, HubEvent
from tidings.hub.base import Adapter, ChannelStats, Joined, Subscriber
from tidings.hub.local import LocalSockets
from tidings.protocol import messages
from tidings.protocol.errors import Code, SubscriptionError
from tidings.protocol.framing import text_frame
from tidings.protocol.presence import Member


@dataclass(slots=True)
class _PresenceUser:
    user_info: Any
    sockets: set[str] = field(default_factory=set)


@dataclass(slots=True)
class _AppState:
    connections: int = 0
    presence: dict[str, dict[str, _PresenceUser]] = field(default_factory=dict)
    cache: dict[str, tuple[bytes, float]] = field(default_factory=dict)
    cache_sweep_at: int = 1024


CACHE_SWEEP_MIN = 1024

# (app, departure event name, channel, user) of a channel_vacated / member_removed.
_DepartureKey = tuple[str, str, str, str | None]
_RETURN_CLAIMS = {"channel_occupied": "channel_vacated", "member_added": "member_removed"}


class MemoryAdapter(Adapter):
    def __init__(
        self, bus: EventBus, clock: Any = time.monotonic, departure_ttl: float = 0.0
    ) -> None:
        super().__init__(bus)
        self._apps: dict[str, _AppState] = {}
        self._local = LocalSockets()
        self._clock = clock
        self._connections = 0
        self._departure_ttl = departure_ttl
        # Departure marks -> expiry, in expiry order (a constant TTL, re-marks moved to the end),
        # so sweeping stops at the first live one.
        self._departures: dict[_DepartureKey, float] = {}

    def _state(self, app_id: str) -> _AppState:
        state = self._apps.get(app_id)
        if state is None:
            state = self._apps[app_id] = _AppState()
        return state

    def connection_count(self) -> int:
        return self._connections

    async def add_connection(self, conn: Subscriber) -> bool:
        state = self._state(conn.app.id)
        limit = conn.app.max_connections
        if limit > 0 and state.connections >= limit:
            return False
        state.connections += 1
        self._connections += 1
        return True

    async def remove_connection(
        self, conn: Subscriber, subscriptions: dict[str, Member | None], user_id: str | None
    ) -> None:
        app_id = conn.app.id
        state = self._state(app_id)
        for channel, member in list(subscriptions.items()):
            self._leave(state, conn, channel, member)
        if user_id is not None and self._local.sign_out(app_id, user_id, conn.socket_id):
            self._local.notify_watchers(app_id, user_id, "offline")
        self._local.unwatch(app_id, conn.socket_id)
        state.connections -= 1
        self._connections -= 1
        if state.connections == 0 and not state.cache:
            del self._apps[app_id]

    async def subscribe(self, conn: Subscriber, channel: str, member: Member | None) -> Joined:
        app = conn.app
        state = self._state(app.id)
        subscribers = self._local.subscribers(app.id, channel)
        members = None
        if member is not None:
            users = state.presence.setdefault(channel, {})
            entry = users.get(member.user_id)
            if entry is None:
                if len(users) >= app.max_presence_members_per_channel:
                    if not users:
                        del state.presence[channel]
                    raise SubscriptionError(
                        channel,
                        "LimitReached",
                        f"The presence channel is full "
                        f"({app.max_presence_members_per_channel} members)",
                        int(Code.OVER_CAPACITY),
                    )
                entry = users[member.user_id] = _PresenceUser(member.user_info)
                if subscribers:
                    frame = text_frame(
                        messages.member_added(channel, member.user_id, member.user_info)
                    )
                    self._local.broadcast(app.id, channel, frame, conn.socket_id)
                self._emit_arrival(app, "member_added", channel, member.user_id)
            entry.sockets.add(conn.socket_id)
            members = {user_id: user.user_info for user_id, user in users.items()}
        if not subscribers:
            self._emit_arrival(app, "channel_occupied", channel, None)
        return Joined(self._local.join(app.id, channel, conn), members)

    async def unsubscribe(self, conn: Subscriber, channel: str, member: Member | None) -> int:
        return self._leave(self._state(conn.app.id), conn, channel, member)

    def _leave(
        self, state: _AppState, conn: Subscriber, channel: str, member: Member | None
    ) -> int:
        app_id = conn.app.id
        left = self._local.leave(app_id, channel, conn.socket_id)
        if left is None:
            return len(self._local.subscribers(app_id, channel))
        if member is not None:
            users = state.presence.get(channel, {})
            entry = users.get(member.user_id)
            if entry is not None:
                entry.sockets.discard(conn.socket_id)
                if not entry.sockets:
                    del users[member.user_id]
                    if not users:
                        del state.presence[channel]
                    frame = text_frame(messages.member_removed(channel, member.user_id))
                    self._local.broadcast(app_id, channel, frame)
                    self._emit_departure(conn.app, "member_removed", channel, member.user_id)
        if not left:
            self._emit_departure(conn.app, "channel_vacated", channel, None)
        return left

    # -- departure marks (Adapter.confirm_departures) -----------------------------------------
    def _emit_departure(self, app: App, name: str, channel: str, user_id: str | None) -> None:
        if self._departure_ttl and app.webhooks:
            now = self._clock()
            self._sweep_departures(now)
            key = (app.id, name, channel, user_id)
            self._departures.pop(key, None)
            self._departures[key] = now + self._departure_ttl
        self.bus.emit(HubEvent(name, app.id, channel, user_id=user_id))

    def _emit_arrival(self, app: App, name: str, channel: str, user_id: str | None) -> None:
        returned = self._claim((app.id, _RETURN_CLAIMS[name], channel, user_id))
        self.bus.emit(HubEvent(name, app.id, channel, user_id=user_id, returned=returned))

    def _claim(self, key: _DepartureKey) -> bool:
        expires = self._departures.pop(key, None)
        return expires is not None and expires > self._clock()

    def _sweep_departures(self, now: float) -> None:
        while self._departures:
            key, expires = next(iter(self._departures.items()))
            if expires > now:
                return
            del self._departures[key]

    async def confirm_departures(self, departures: Sequence[HubEvent]) -> list[bool]:
        if not self._departure_ttl:
            return [True] * len(departures)
        return [
            self._claim((event.app_id, event.name, event.channel, event.user_id))
            for event in departures
        ]

    def departure_marks(self) -> int:
        """Marks held, expired ones included until the next sweep: for tests and metrics."""
        return len(self._departures)

    async def publish(
        self, app_id: str, channel: str, payload: bytes, except_socket_id: str | None = None
    ) -> None:
        if self._local.subscribers(app_id, channel):
            self._local.broadcast(app_id, channel, text_frame(payload), except_socket_id)

    async def send_to_user(self, app_id: str, user_id: str, payload: bytes) -> None:
        if self._local.user_sockets(app_id, user_id):
            self._local.send_to_user(app_id, user_id, text_frame(payload))

    async def sign_in(
        self, conn: Subscriber, user_id: str, watchlist: tuple[str, ...]
    ) -> dict[str, bool]:
        app_id = conn.app.id
        if self._local.sign_in(app_id, user_id, conn):
            self._local.notify_watchers(app_id, user_id, "online")
        for watched in watchlist:
            self._local.watch(app_id, watched, conn)
        return {watched: bool(self._local.user_sockets(app_id, watched)) for watched in watchlist}

    async def terminate_user(self, app_id: str, user_id: str) -> None:
        for conn in list(self._local.user_sockets(app_id, user_id).values()):
            conn.terminate(int(Code.UNAUTHORIZED), "You got disconnected by the app.")

    async def channels(self, app_id: str) -> dict[str, ChannelStats]:
        state = self._apps.get(app_id)
        if state is None:
            return {}
        names = self._local.channel_names(app_id)
        return {name: self._stats(app_id, state, name) for name in names}

    async def channel(self, app_id: str, channel: str) -> ChannelStats:
        state = self._apps.get(app_id)
        if state is None:
            return ChannelStats(0, 0 if channel.startswith("presence-") else None)
        return self._stats(app_id, state, channel)

    def _stats(self, app_id: str, state: _AppState, channel: str) -> ChannelStats:
        users = state.presence.get(channel)
        user_count = len(users or ()) if channel.startswith("presence-") else None
        return ChannelStats(len(self._local.subscribers(app_id, channel)), user_count)

    async def members(self, app_id: str, channel: str) -> dict[str, Any]:
        state = self._apps.get(app_id)
        users = state.presence.get(channel, {}) if state is not None else {}
        return {user_id: user.user_info for user_id, user in users.items()}

    async def cache_get(self, app_id: str, channel: str) -> tuple[bytes, float] | None:
        state = self._apps.get(app_id)
        entry = state.cache.get(channel) if state is not None else None
        if entry is None or state is None:
            return None
        payload, expires = entry
        left = expires - self._clock()
        if left <= 0:
            del state.cache[channel]
            return None
        return payload, left

    async def cache_set(self, app_id: str, channel: str, payload: bytes, ttl: float) -> None:
        state = self._state(app_id)
        cache = state.cache
        now = self._clock()
        cache[channel] = (payload, now + ttl)
        # Entries of channels nobody reads again would stay forever: whenever the cache has
        # doubled since the last sweep, drop the expired ones (amortised O(1) per set).
        if len(cache) >= state.cache_sweep_at:
            for name in [name for name, (_, expires) in cache.items() if expires <= now]:
                del cache[name]
            state.cache_sweep_at = max(CACHE_SWEEP_MIN, 2 * len(cache))
