"""The Redis driver: many tidings processes and machines behave as one server.

Each node keeps its own sockets in a ``LocalSockets`` and SUBSCRIBEs only to the pub/sub topics
it has local sockets for; a publisher PUBLISHes once and writes to its own sockets directly, so
a node's cost per message depends on its subscribers, not on the cluster's size. Counts,
presence and sign-ins live in Redis hashes changed by Lua scripts (``redis_state``), which say
atomically when a channel becomes occupied or vacated and a member first joins or last leaves:
those frames and ``HubEvent``\\s fire once per cluster, on the node where it happened.

Failure: each node refreshes a heartbeat key; a node whose key expired is reaped by one
survivor (``redis_nodes``). While Redis is away, local traffic carries on, cluster calls fail
fast with ``HubUnavailable``, and the node re-registers its sockets when Redis is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from tidings.config import ServerSettings
from tidings.events import EventBus, HubEvent
from tidings.hub.base import (
    Adapter,
    ChannelStats,
    HubUnavailable,
    Joined,
    Outgoing,
    Subscriber,
    departure_ttl,
)
from tidings.hub.local import LocalSockets
from tidings.hub.redis_nodes import Nodes
from tidings.hub.redis_publisher import Publisher
from tidings.hub.redis_state import (
    ADD_CONNECTION,
    ANNOUNCE_COUNT,
    JOIN,
    LEAVE,
    REAP,
    REMOVE_CONNECTION,
    SIGN_IN,
    SIGN_OUT,
    Keys,
    text,
)
from tidings.hub.redis_topics import Topics
from tidings.protocol import messages
from tidings.protocol.errors import Code, SubscriptionError
from tidings.protocol.framing import text_frame
from tidings.protocol.presence import Member

log = logging.getLogger("tidings.redis")
T = TypeVar("T")
FAILURES = (RedisError, OSError, TimeoutError)
TERMINATE = b"terminate"


def connect(settings: ServerSettings) -> Redis:
    """A client whose every call fails within about ``redis_timeout`` instead of retrying for
    long. One retry on a broken connection, since pooled connections all break when Redis
    restarts; none on a timeout, which may hide a script that did run."""
    # A blocking pool: a burst of calls waits for a free connection (boundedly) instead of
    # failing with "too many connections" and sending the node into re-registration.
    pool = BlockingConnectionPool.from_url(
        settings.redis_url,
        socket_timeout=settings.redis_timeout,
        socket_connect_timeout=settings.redis_timeout,
        retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
        max_connections=64,
        timeout=settings.redis_timeout,
    )
    return Redis(connection_pool=pool)


@dataclass(slots=True)
class _LocalMember:
    user_info: Any
    sockets: int = 0


@dataclass(frozen=True, slots=True)
class _Route:
    kind: str  # "c" channel, "u" user, "w" watchers of a user
    app_id: str
    name: str


class RedisAdapter(Adapter):
    def __init__(self, bus: EventBus, settings: ServerSettings) -> None:
        super().__init__(bus)
        self._settings = settings
        self._redis = connect(settings)
        self._keys = Keys(settings.redis_prefix)
        self._departure_ms = int(departure_ttl(settings.webhook_vacate_delay) * 1000)
        self._claims = 1 if self._departure_ms else 0  # JOIN claims departure marks
        self._origin = secrets.token_hex(6)  # this process, in every message it publishes
        self._publisher = Publisher(self._redis)
        self._generation = 0
        self.node = f"{self._origin}-0"  # renewed whenever Redis may have lost our share
        self._local = LocalSockets()
        self._presence: dict[tuple[str, str], dict[str, _LocalMember]] = {}
        self._app_connections: dict[str, int] = {}
        self._connections = 0
        self._registered_apps: set[tuple[str, str]] = set()  # (node, app) in node:N:apps
        self._routes: dict[bytes, _Route] = {}
        self.stale = True  # our share in Redis may be missing: re-register when reachable
        self._topics = Topics(
            self._redis,
            self._keys.node_topic(self._origin),
            self._on_message,
            settings.redis_timeout,
        )
        self._nodes = Nodes(self, self._redis, self._keys, settings)
        self._scripts = {
            name: self._redis.register_script(source)
            for name, source in (
                ("add_connection", ADD_CONNECTION),
                ("announce_count", ANNOUNCE_COUNT),
                ("remove_connection", REMOVE_CONNECTION),
                ("join", JOIN),
                ("leave", LEAVE),
                ("sign_in", SIGN_IN),
                ("sign_out", SIGN_OUT),
                ("reap", REAP),
            )
        }

    # -- lifecycle ----------------------------------------------------------------------------
    async def start(self) -> None:
        self._topics.start()
        await self._nodes.start()

    async def close(self) -> None:
        await self._nodes.close()
        await self._topics.close()
        with contextlib.suppress(*FAILURES):
            await self._redis.aclose()

    @property
    def client(self) -> Redis:
        return self._redis

    def ready(self) -> bool:
        return self._nodes.healthy and self._topics.connected.is_set()

    def connection_count(self) -> int:
        return self._connections

    async def _script(self, name: str, app_id: str, *args: Any) -> Any:
        return await self._scripts[name](keys=[self._keys.app(app_id)], args=list(args))

    async def _cluster(self, call: Awaitable[T]) -> T:
        """A read or publish that only makes sense cluster-wide: fail with HubUnavailable."""
        try:
            return await call
        except FAILURES as error:
            raise HubUnavailable(f"Redis is unreachable ({error}); retry shortly") from None

    def _lost(self, what: str, error: BaseException) -> None:
        """A change reached this node but not Redis: re-register our share once it is back."""
        if not self.stale:
            log.warning("Redis unreachable during %s (%s); will re-register", what, error)
        self.stale = True

    async def _own_app(self, node: str, app_id: str) -> None:
        """Note that ``node`` holds a share of ``app_id``: the reaper looks there."""
        if (node, app_id) not in self._registered_apps:
            await self._redis.sadd(self._keys.node_apps(node), app_id)
            self._registered_apps.add((node, app_id))

    # -- topics -------------------------------------------------------------------------------
    def _topic(self, kind: str, app_id: str, name: str) -> bytes:
        if kind == "c":
            topic = self._keys.channel_topic(app_id, name)
        elif kind == "u":
            topic = self._keys.user_topic(app_id, name)
        else:
            topic = self._keys.watch_topic(app_id, name)
        if topic not in self._routes:
            self._routes[topic] = _Route(kind, app_id, name)
        return topic

    async def _want(self, kind: str, app_id: str, name: str) -> None:
        await self._topics.want(self._topic(kind, app_id, name))

    async def _drop(self, kind: str, app_id: str, name: str) -> None:
        topic = self._topic(kind, app_id, name)
        del self._routes[topic]
        await self._topics.drop(topic)

    def _publish(self, topic: bytes, arg: bytes, payload: bytes) -> asyncio.Future[None]:
        message = b"%s\n%s\n%s" % (self._origin.encode(), arg, payload)
        return self._publisher.publish(topic, message)

    def _on_message(self, topic: bytes, data: bytes) -> None:
        origin, arg, payload = data.split(b"\n", 2)
        route = self._routes.get(topic)
        if route is None or origin == self._origin.encode():
            return  # our own PUBLISH: local sockets were written to directly
        if route.kind == "c":
            except_socket_id = arg.decode() if arg else None
            self._local.broadcast(route.app_id, route.name, text_frame(payload), except_socket_id)
        elif route.kind == "u":
            if arg == TERMINATE:
                self._terminate_local(route.app_id, route.name)
            else:
                self._local.send_to_user(route.app_id, route.name, text_frame(payload))
        else:
            self._local.notify_watchers(route.app_id, route.name, arg.decode())

    async def _broadcast(
        self, app_id: str, channel: str, payload: bytes, except_socket_id: str | None = None
    ) -> None:
        """To every subscriber in the cluster: PUBLISH once, write local sockets directly."""
        arg = except_socket_id.encode() if except_socket_id else b""
        await self._publish(self._topic("c", app_id, channel), arg, payload)
        if self._local.subscribers(app_id, channel):
            self._local.broadcast(app_id, channel, text_frame(payload), except_socket_id)

    async def _announce_presence(self, app_id: str, user_id: str, name: str) -> None:
        with contextlib.suppress(*FAILURES):
            await self._publish(self._topic("w", app_id, user_id), name.encode(), b"")
        self._local.notify_watchers(app_id, user_id, name)

    # -- connections --------------------------------------------------------------------------
    async def add_connection(self, conn: Subscriber) -> bool:
        app, node = conn.app, self.node
        try:
            await self._own_app(node, app.id)
            if not await self._script("add_connection", app.id, node, app.max_connections):
                return False
        except FAILURES as error:
            self._lost("a connection", error)  # admitted: the limit is re-checked later
        self._app_connections[app.id] = self._app_connections.get(app.id, 0) + 1
        self._connections += 1
        return True

    async def remove_connection(
        self, conn: Subscriber, subscriptions: dict[str, Member | None], user_id: str | None
    ) -> None:
        app_id = conn.app.id
        for channel, member in list(subscriptions.items()):
            await self._leave(conn, channel, member)
        if user_id is not None:
            await self._sign_out(app_id, user_id, conn.socket_id)
        for watched in self._local.unwatch(app_id, conn.socket_id):
            await self._drop("w", app_id, watched)
        left = self._app_connections.get(app_id, 0) - 1
        if left > 0:
            self._app_connections[app_id] = left
        else:
            self._app_connections.pop(app_id, None)
        self._connections -= 1
        try:
            await self._script("remove_connection", app_id, self.node)
        except FAILURES as error:
            self._lost("a disconnection", error)

    # -- channels -----------------------------------------------------------------------------
    def _local_members(self, app_id: str, channel: str) -> dict[str, Any]:
        users = self._presence.get((app_id, channel), {})
        return {user_id: member.user_info for user_id, member in users.items()}

    def _add_local_member(self, app_id: str, channel: str, member: Member) -> None:
        users = self._presence.setdefault((app_id, channel), {})
        entry = users.get(member.user_id)
        if entry is None:
            entry = users[member.user_id] = _LocalMember(member.user_info)
        entry.sockets += 1

    def _remove_local_member(self, app_id: str, channel: str, user_id: str) -> None:
        users = self._presence.get((app_id, channel))
        entry = users.get(user_id) if users is not None else None
        if users is None or entry is None:
            return
        entry.sockets -= 1
        if entry.sockets <= 0:
            del users[user_id]
            if not users:
                del self._presence[(app_id, channel)]

    async def subscribe(self, conn: Subscriber, channel: str, member: Member | None) -> Joined:
        app, node = conn.app, self.node
        local_count = self._local.join(app.id, channel, conn)
        if member is not None:
            self._add_local_member(app.id, channel, member)
        await self._want("c", app.id, channel)
        args: list[Any] = [node, channel, 1, -1, self._claims]
        if member is not None:
            info = orjson.dumps(member.user_info)
            limit = app.max_presence_members_per_channel
            args = [node, channel, 1, limit, self._claims, member.user_id, 1, info]
        try:
            await self._own_app(node, app.id)
            result = await self._script("join", app.id, *args)
        except FAILURES as error:
            self._lost("a subscription", error)
            members = self._local_members(app.id, channel) if member is not None else None
            return Joined(local_count, members)
        total, refused = int(result[0]), int(result[2])
        if refused:
            await self._forget_local(conn, channel, member)
            raise SubscriptionError(
                channel,
                "LimitReached",
                f"The presence channel is full ({app.max_presence_members_per_channel} members)",
                int(Code.OVER_CAPACITY),
            )
        flat = await self._announce_join(app.id, channel, result, conn.socket_id)
        members = None
        if member is not None:
            members = {flat[i].decode(): orjson.loads(flat[i + 1]) for i in range(0, len(flat), 2)}
        return Joined(total, members)

    async def _announce_join(
        self, app_id: str, channel: str, result: list[Any], except_socket_id: str | None
    ) -> list[Any]:
        """Announce what a JOIN decided (members added, channel occupied, each saying whether
        it claimed a departure mark); returns the rest of its result, the flat member list."""
        added = int(result[4])
        for i in range(5, 5 + 2 * added, 2):
            user_id, returned = result[i].decode(), bool(int(result[i + 1]))
            await self._member_added(app_id, channel, user_id, except_socket_id, returned)
        if int(result[1]):
            self.bus.emit(HubEvent("channel_occupied", app_id, channel, returned=bool(result[3])))
        return list(result[5 + 2 * added :])

    async def _member_added(
        self,
        app_id: str,
        channel: str,
        user_id: str,
        except_socket_id: str | None,
        returned: bool,
    ) -> None:
        info = self._presence.get((app_id, channel), {}).get(user_id)
        payload = messages.member_added(channel, user_id, info.user_info if info else None)
        with contextlib.suppress(*FAILURES):
            await self._broadcast(app_id, channel, payload, except_socket_id)
        event = HubEvent("member_added", app_id, channel, user_id=user_id, returned=returned)
        self.bus.emit(event)

    async def _member_removed(self, app_id: str, channel: str, user_id: str) -> None:
        with contextlib.suppress(*FAILURES):
            await self._broadcast(app_id, channel, messages.member_removed(channel, user_id))
        self.bus.emit(HubEvent("member_removed", app_id, channel, user_id=user_id))

    async def _forget_local(self, conn: Subscriber, channel: str, member: Member | None) -> int:
        app_id = conn.app.id
        left = self._local.leave(app_id, channel, conn.socket_id)
        if left is None:
            return -1
        if member is not None:
            self._remove_local_member(app_id, channel, member.user_id)
        if left == 0:
            await self._drop("c", app_id, channel)
        return left

    async def unsubscribe(self, conn: Subscriber, channel: str, member: Member | None) -> int:
        return await self._leave(conn, channel, member)

    async def _leave(self, conn: Subscriber, channel: str, member: Member | None) -> int:
        app_id, node = conn.app.id, self.node
        left = await self._forget_local(conn, channel, member)
        if left < 0:
            return len(self._local.subscribers(app_id, channel))
        user_id = member.user_id if member is not None else ""
        marks = self._departure_ms if conn.app.webhooks else 0
        try:
            result = await self._script("leave", app_id, node, channel, user_id, marks)
        except FAILURES as error:
            self._lost("an unsubscription", error)
            return left
        total, vacated, removed = (int(value) for value in result)
        if removed:
            await self._member_removed(app_id, channel, user_id)
        if vacated:
            self.bus.emit(HubEvent("channel_vacated", app_id, channel))
        return total

    async def publish(
        self, app_id: str, channel: str, payload: bytes, except_socket_id: str | None = None
    ) -> None:
        await self._cluster(self._broadcast(app_id, channel, payload, except_socket_id))

    async def announce_subscription_count(self, app_id: str, channel: str) -> int:
        # The message is the frame with the count spliced in by the script; a channel name
        # (charset -a-zA-Z0-9_=@,.;) needs no JSON escaping. The template ends in the count
        # digit, then '}"}'.
        prefix, suffix = messages.subscription_count(channel, 0).rsplit(b"0", 1)
        topic = self._topic("c", app_id, channel)
        count = await self._cluster(
            self._script("announce_count", app_id, channel, topic, prefix, suffix)
        )
        return int(count)

    async def publish_many(self, app_id: str, outgoing: list[Outgoing]) -> None:
        """Queue every PUBLISH before awaiting any, so they share one pipeline round trip."""
        sent = [
            self._publish(self._topic("c", app_id, channel), (skip or "").encode(), payload)
            for channel, payload, skip in outgoing
        ]
        await self._cluster(asyncio.gather(*sent))
        for channel, payload, skip in outgoing:
            if self._local.subscribers(app_id, channel):
                self._local.broadcast(app_id, channel, text_frame(payload), skip)

    # -- users --------------------------------------------------------------------------------
    async def send_to_user(self, app_id: str, user_id: str, payload: bytes) -> None:
        await self._cluster(self._publish(self._topic("u", app_id, user_id), b"", payload))
        if self._local.user_sockets(app_id, user_id):
            self._local.send_to_user(app_id, user_id, text_frame(payload))

    def _terminate_local(self, app_id: str, user_id: str) -> None:
        for conn in list(self._local.user_sockets(app_id, user_id).values()):
            conn.terminate(int(Code.UNAUTHORIZED), "You got disconnected by the app.")

    async def terminate_user(self, app_id: str, user_id: str) -> None:
        await self._cluster(self._publish(self._topic("u", app_id, user_id), TERMINATE, b""))
        self._terminate_local(app_id, user_id)

    async def sign_in(
        self, conn: Subscriber, user_id: str, watchlist: tuple[str, ...]
    ) -> dict[str, bool]:
        app_id, node = conn.app.id, self.node
        if self._local.sign_in(app_id, user_id, conn):
            await self._want("u", app_id, user_id)
        try:
            await self._own_app(node, app_id)
            result = await self._script("sign_in", app_id, node, user_id, 1, *watchlist)
        except FAILURES as error:
            self._lost("a sign-in", error)
            result = [0, *(int(bool(self._local.user_sockets(app_id, w))) for w in watchlist)]
        if int(result[0]):
            await self._announce_presence(app_id, user_id, "online")
        for watched in watchlist:
            if self._local.watch(app_id, watched, conn):
                await self._want("w", app_id, watched)
        return {
            watched: bool(int(flag)) for watched, flag in zip(watchlist, result[1:], strict=True)
        }

    async def _sign_out(self, app_id: str, user_id: str, socket_id: str) -> None:
        if self._local.sign_out(app_id, user_id, socket_id):
            await self._drop("u", app_id, user_id)
        try:
            offline = await self._script("sign_out", app_id, self.node, user_id)
        except FAILURES as error:
            self._lost("a sign-out", error)
            return
        if int(offline):
            await self._announce_presence(app_id, user_id, "offline")

    # -- reads --------------------------------------------------------------------------------
    async def channels(self, app_id: str) -> dict[str, ChannelStats]:
        base = self._keys.app(app_id)

        async def read() -> dict[str, ChannelStats]:
            counts = {
                text(k): int(v) for k, v in (await self._redis.hgetall(f"{base}subs")).items()
            }
            names = list(counts)
            presence = [name for name in names if name.startswith("presence-")]
            users: dict[str, int] = {}
            if presence:
                async with self._redis.pipeline(transaction=False) as pipe:
                    for name in presence:
                        pipe.hlen(f"{base}pu:{name}")
                    users = dict(zip(presence, await pipe.execute(), strict=True))
            return {
                name: ChannelStats(count, users.get(name))
                for name, count in counts.items()
                if count > 0
            }

        return await self._cluster(read())

    async def channel(self, app_id: str, channel: str) -> ChannelStats:
        base = self._keys.app(app_id)

        async def read() -> ChannelStats:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.hget(f"{base}subs", channel)
                pipe.hlen(f"{base}pu:{channel}")
                count, users = await pipe.execute()
            presence = channel.startswith("presence-")
            return ChannelStats(max(0, int(count or 0)), int(users) if presence else None)

        return await self._cluster(read())

    async def members(self, app_id: str, channel: str) -> dict[str, Any]:
        found = await self._cluster(self._redis.hgetall(f"{self._keys.app(app_id)}pi:{channel}"))
        return {text(user): orjson.loads(info) for user, info in found.items()}

    async def cache_get(self, app_id: str, channel: str) -> tuple[bytes, float] | None:
        key = self._keys.cache(app_id, channel)

        async def read() -> tuple[bytes | None, int]:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.get(key)
                pipe.pttl(key)
                payload, ttl = await pipe.execute()
            return payload, int(ttl)

        payload, ttl = await self._cluster(read())
        if payload is None or ttl <= 0:
            return None
        return payload, ttl / 1000

    async def cache_set(self, app_id: str, channel: str, payload: bytes, ttl: float) -> None:
        key = self._keys.cache(app_id, channel)
        await self._cluster(self._redis.set(key, payload, px=max(1, int(ttl * 1000))))

    async def confirm_departures(self, departures: Sequence[HubEvent]) -> list[bool]:
        if not self._departure_ms or not departures:
            return [True] * len(departures)

        async def claim() -> list[bool]:
            async with self._redis.pipeline(transaction=False) as pipe:
                for event in departures:
                    pipe.delete(self._keys.departure(event.app_id, event.channel, event.user_id))
                return [bool(deleted) for deleted in await pipe.execute()]

        return await self._cluster(claim())

    # -- recovery (called by redis_nodes) -----------------------------------------------------
    def new_node_id(self) -> tuple[str, str]:
        """Switch to a fresh node id; returns (old, new). Later changes go to the new one."""
        old = self.node
        self._generation += 1
        self.node = f"{self._origin}-{self._generation}"
        self.stale = False
        return old, self.node

    async def restore(self, node: str, announce: bool) -> None:
        """Write this node's whole local share under ``node``; transitions are announced
        (frames and events) unless Redis lost everything and the others re-announce too."""
        for app_id in self._local.app_ids() + list(self._app_connections):
            await self._own_app(node, app_id)
        for app_id, count in list(self._app_connections.items()):
            conns = f"{self._keys.app(app_id)}conns"
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.hincrby(conns, node, count)
                pipe.hincrby(conns, "#", count)
                await pipe.execute()
        for app_id in self._local.app_ids():
            for channel in self._local.channel_names(app_id):
                await self._restore_channel(node, app_id, channel, announce)
            for user_id, sockets in self._local.signed_in_users(app_id).items():
                result = await self._script("sign_in", app_id, node, user_id, sockets)
                if announce and int(result[0]):
                    await self._announce_presence(app_id, user_id, "online")

    async def _restore_channel(self, node: str, app_id: str, channel: str, announce: bool) -> None:
        count = len(self._local.subscribers(app_id, channel))
        if not count:
            return
        args: list[Any] = [node, channel, count, -1, self._claims]
        for user_id, entry in self._presence.get((app_id, channel), {}).items():
            args += [user_id, entry.sockets, orjson.dumps(entry.user_info)]
        result = await self._script("join", app_id, *args)
        if announce:
            await self._announce_join(app_id, channel, result, None)

    async def reap(self, node: str) -> None:
        """Remove everything ``node`` held, announcing who left; the caller holds its lock."""
        keys = self._keys
        for raw in await self._redis.smembers(keys.node_apps(node)):
            app_id = text(raw)
            removed, vacated, offline = await self._script("reap", app_id, node, self._departure_ms)
            for i in range(0, len(removed), 2):
                await self._member_removed(app_id, removed[i].decode(), removed[i + 1].decode())
            for channel in vacated:
                self.bus.emit(HubEvent("channel_vacated", app_id, channel.decode()))
            for user_id in offline:
                await self._announce_presence(app_id, user_id.decode(), "offline")
        await self._redis.delete(keys.node_apps(node), keys.node(node))
        await self._redis.srem(keys.nodes, node)
        self._registered_apps = {entry for entry in self._registered_apps if entry[0] != node}


Reaper = Callable[[str], Awaitable[None]]
