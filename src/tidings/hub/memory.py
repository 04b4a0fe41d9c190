"""The embedded driver: all state in this process's memory."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tidings.apps import App
from tidings.apps.history import HistoryRule
from tidings.events import EventBus, HubEvent, HubEventKind
from tidings.hub.base import Adapter, ChannelStats, Joined, Outgoing, Subscriber
from tidings.hub.history import HistoryPage, MemoryHistory
from tidings.hub.local import presence_full
from tidings.protocol import messages
from tidings.protocol.channels import is_presence
from tidings.protocol.presence import Member


@dataclass(slots=True)
class _AppState:
    connections: int = 0
    cache: dict[str, tuple[bytes, float]] = field(default_factory=dict)
    cache_sweep_at: int = 1024


CACHE_SWEEP_MIN = 1024

# (app, departure kind, channel, user) of a channel_vacated / member_removed.
_DepartureKey = tuple[str, HubEventKind, str, str | None]


class MemoryAdapter(Adapter):
    in_process = True

    def __init__(
        self, bus: EventBus, clock: Any = time.monotonic, departure_ttl: float = 0.0
    ) -> None:
        super().__init__(bus)
        self._apps: dict[str, _AppState] = {}
        self._clock = clock
        self._connections = 0
        self._departure_ttl = departure_ttl
        # Departure marks -> expiry, in expiry order (a constant TTL, re-marks moved to the end),
        # so sweeping stops at the first live one.
        self._departures: dict[_DepartureKey, float] = {}
        self._history = MemoryHistory(clock)

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
            self._leave(conn, channel, member)
        if user_id is not None and self._local.sign_out(app_id, user_id, conn.socket_id):
            self._local.notify_watchers(app_id, user_id, "offline")
        self._local.unwatch(app_id, conn.socket_id)
        state.connections -= 1
        self._connections -= 1
        if state.connections == 0 and not state.cache:
            del self._apps[app_id]

    async def subscribe(self, conn: Subscriber, channel: str, member: Member | None) -> Joined:
        app, local = conn.app, self._local
        if local.holds(app.id, channel, conn.socket_id):  # a repeat changes nothing
            members = local.member_infos(app.id, channel) if member is not None else None
            return Joined(len(local.subscribers(app.id, channel)), members)
        occupied = not local.subscribers(app.id, channel)
        members = None
        if member is not None:
            users = local.members(app.id, channel)
            limit = app.max_presence_members_per_channel
            if member.user_id not in users and len(users) >= limit:
                raise presence_full(channel, limit)
            if local.add_member(app.id, channel, member):
                added = messages.member_added(channel, member.user_id, member.user_info)
                local.deliver(app.id, channel, added, conn.socket_id)
                self._emit_arrival(app, HubEventKind.MEMBER_ADDED, channel, member.user_id)
            members = local.member_infos(app.id, channel)
        if occupied:
            self._emit_arrival(app, HubEventKind.CHANNEL_OCCUPIED, channel, None)
        return Joined(local.join(app.id, channel, conn), members)

    async def unsubscribe(self, conn: Subscriber, channel: str, member: Member | None) -> int:
        return self._leave(conn, channel, member)

    def _leave(self, conn: Subscriber, channel: str, member: Member | None) -> int:
        app_id, local = conn.app.id, self._local
        left = local.leave(app_id, channel, conn.socket_id)
        if left is None:
            return len(local.subscribers(app_id, channel))
        if member is not None and local.remove_member(app_id, channel, member.user_id):
            local.deliver(app_id, channel, messages.member_removed(channel, member.user_id))
            self._emit_departure(conn.app, HubEventKind.MEMBER_REMOVED, channel, member.user_id)
        if not left:
            self._emit_departure(conn.app, HubEventKind.CHANNEL_VACATED, channel, None)
        return left

    # -- departure marks (Adapter.confirm_departures) -----------------------------------------
    def _emit_departure(
        self, app: App, kind: HubEventKind, channel: str, user_id: str | None
    ) -> None:
        if self._departure_ttl and app.webhooks:
            now = self._clock()
            self._sweep_departures(now)
            key = (app.id, kind, channel, user_id)
            self._departures.pop(key, None)
            self._departures[key] = now + self._departure_ttl
        self.bus.emit(HubEvent(kind, app.id, channel, user_id=user_id))

    def _emit_arrival(
        self, app: App, kind: HubEventKind, channel: str, user_id: str | None
    ) -> None:
        departure = kind.answers
        returned = departure is not None and self._claim((app.id, departure, channel, user_id))
        self.bus.emit(HubEvent(kind, app.id, channel, user_id=user_id, returned=returned))

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
            self._claim((event.app_id, event.kind, event.channel, event.user_id))
            for event in departures
        ]

    def departure_marks(self) -> int:
        """Marks held, expired ones included until the next sweep: for tests and metrics."""
        return len(self._departures)

    async def publish(
        self, app_id: str, channel: str, payload: bytes, except_socket_id: str | None = None
    ) -> None:
        self._local.deliver(app_id, channel, payload, except_socket_id)

    async def publish_many(self, app_id: str, outgoing: list[Outgoing]) -> None:
        deliver = self._local.deliver  # no coroutine per message
        for channel, payload, except_socket_id in outgoing:
            deliver(app_id, channel, payload, except_socket_id)

    async def publish_history(
        self,
        app_id: str,
        channel: str,
        rule: HistoryRule,
        payload: bytes,
        except_socket_id: str | None = None,
    ) -> None:
        stamped = self._history.append(app_id, channel, rule, payload, except_socket_id)
        self._local.deliver(app_id, channel, stamped, except_socket_id)

    async def history(
        self,
        app_id: str,
        channel: str,
        rule: HistoryRule,
        after: int,
        limit: int,
        epoch: str | None = None,
    ) -> HistoryPage:
        return self._history.read(app_id, channel, rule, after, limit, epoch)

    async def send_to_user(self, app_id: str, user_id: str, payload: bytes) -> None:
        self._local.send_to_user(app_id, user_id, payload)

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
        self._local.terminate_user(app_id, user_id)

    async def channels(self, app_id: str) -> dict[str, ChannelStats]:
        return {name: self._stats(app_id, name) for name in self._local.channel_names(app_id)}

    async def channel(self, app_id: str, channel: str) -> ChannelStats:
        return self._stats(app_id, channel)

    def _stats(self, app_id: str, channel: str) -> ChannelStats:
        users = len(self._local.members(app_id, channel)) if is_presence(channel) else None
        return ChannelStats(len(self._local.subscribers(app_id, channel)), users)

    async def members(self, app_id: str, channel: str) -> dict[str, Any]:
        return self._local.member_infos(app_id, channel)

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
