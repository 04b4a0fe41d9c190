"""The Redis driver: many tidings processes and machines behave as one server.

Each node keeps its own sockets in a ``LocalSockets`` and subscribes only to the pub/sub topics
it has local sockets for (sharded pub/sub on a Redis Cluster), so a node's cost per message
depends on its subscribers, not on the cluster's size. A channel event goes through the
channel's stream and serial (``streams``) and every node, the publishing one included,
delivers it from the topic; what a node missed while its subscription was down it reads back.
Counts, presence and sign-ins live in Redis hashes changed by Lua scripts (``state``), which
say atomically when a channel becomes occupied or vacated and a member first joins or last
leaves: those frames and ``HubEvent``\\s fire once per cluster, on the node where it happened.

Failure: each node refreshes a heartbeat key; a node whose key expired is reaped by one
survivor (``redis_nodes``). While Redis is away, local traffic carries on, cluster calls fail
fast with ``HubUnavailable``, and the node re-registers its sockets when Redis is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import orjson
from redis.asyncio import Redis

from tidings.apps.history import HistoryRule
from tidings.config import ServerSettings
from tidings.events import EventBus, HubEvent, HubEventKind
from tidings.hub.base import Adapter, ChannelStats, Joined, Outgoing, Subscriber, departure_ttl
from tidings.hub.history import HistoryPage
from tidings.hub.local import presence_full
from tidings.hub.redis.nodes import Nodes
from tidings.hub.redis.reads import SharedReads
from tidings.hub.redis.routes import TERMINATE, Routes
from tidings.hub.redis.sentinel import Gate, MasterWatch
from tidings.hub.redis.state import (
    ADD_CONNECTION,
    ANNOUNCE_COUNT,
    CLAIM,
    JOIN,
    LEAVE,
    REAP_APP,
    REAP_CHANNEL,
    REMOVE_CONNECTION,
    SIGN_IN,
    SIGN_OUT,
    Keys,
    text,
)
from tidings.hub.redis.streams import event_args
from tidings.hub.redis.topics import Topics
from tidings.metrics.figures import redis_round_trip_errors
from tidings.protocol import messages
from tidings.protocol.presence import Member
from tidings.redis_client import FAILURES, Client, connect, required

log = logging.getLogger("tidings.redis")


class RedisAdapter(Adapter):
    def __init__(self, bus: EventBus, settings: ServerSettings) -> None:
        super().__init__(bus)
        self._settings = settings
        self._redis = connect(settings)
        self._keys = Keys(settings.redis_prefix)
        self._departure_ms = int(departure_ttl(settings.webhook_vacate_delay) * 1000)
        # How much of an ordinary channel's traffic its stream keeps for a node to read back.
        self._recovery = HistoryRule(
            "*", settings.redis_recovery_events, settings.redis_recovery_seconds
        )
        self._claims = 1 if self._departure_ms else 0  # JOIN claims departure marks
        sentinel = bool(settings.redis_sentinels)
        gate = None
        if sentinel:
            assert isinstance(self._redis, Redis)  # Sentinel names one master, never a cluster
            gate = Gate(self._redis, self._keys, settings.node_timeout).publish
        self._routes = Routes(self._redis, self._keys, self._local, settings.redis_timeout, gate)
        self._reads = SharedReads(self._redis, self._keys)
        self._generation = 0
        self.node = f"{self._routes.origin}-0"  # renewed whenever Redis may have lost our share
        self._app_connections: dict[str, int] = {}
        self._connections = 0
        self._registered_apps: set[tuple[str, str]] = set()  # (node, app) in node:N:apps
        self.stale = True  # our share in Redis may be missing: re-register when reachable
        self._topics = self._routes.topics
        self._nodes = Nodes(self, self._redis, self._keys, settings)
        self._watch = None
        if sentinel:
            assert isinstance(self._redis, Redis) and isinstance(self._topics, Topics)
            self._watch = MasterWatch(self._redis, self._topics, 0.5, self._moved)
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
                ("reap_channel", REAP_CHANNEL),
                ("reap_app", REAP_APP),
                ("claim", CLAIM),
            )
        }

    # -- lifecycle ----------------------------------------------------------------------------
    async def start(self) -> None:
        self._topics.start()
        if self._watch is not None:
            await self._watch.start()
            # Registered before listening, this node would hold the others' events back.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._topics.connected.wait(), self._settings.redis_timeout)
        await self._nodes.start()

    async def close(self) -> None:
        await self._nodes.close()
        await self._topics.close()
        if self._watch is not None:
            await self._watch.close()
        with contextlib.suppress(*FAILURES):
            await self._redis.aclose()

    @property
    def client(self) -> Client:
        return self._redis

    def ready(self) -> bool:
        known = self._watch is None or self._watch.known
        return known and self._nodes.healthy and self._topics.connected.is_set()

    def connection_count(self) -> int:
        return self._connections

    def node_count(self) -> int | None:
        return self._nodes.count

    async def _script(self, name: str, app_id: str, node: str, *args: Any) -> Any:
        """A script on the app's keys (connections, sign-ins) as node ``node``."""
        keys = self._keys.app_state(app_id, node)
        return await self._scripts[name](keys=keys, args=[node, *args])

    async def _channel_script(self, name: str, app_id: str, channel: str, *args: Any) -> Any:
        """A script on one channel's keys (subscriptions, presence, departure marks)."""
        keys = self._keys.channel_state(app_id, channel)
        return await self._scripts[name](keys=keys, args=list(args))

    def _moved(self) -> None:
        """Sentinel named a new master: it may lack our last writes, so re-register there."""
        self.stale = True

    def _lost(self, what: str, error: BaseException) -> None:
        """A change reached this node but not Redis: re-register our share once it is back."""
        redis_round_trip_errors.note()
        if not self.stale:
            log.warning("Redis unreachable during %s (%s); will re-register", what, error)
        self.stale = True

    async def _own_app(self, node: str, app_id: str) -> None:
        """Note that ``node`` holds a share of ``app_id``: the reaper looks there."""
        if (node, app_id) not in self._registered_apps:
            await self._redis.sadd(self._keys.node_apps(node), app_id)
            self._registered_apps.add((node, app_id))

    async def _broadcast(
        self, app_id: str, channel: str, payload: bytes, except_socket_id: str | None = None
    ) -> None:
        """A ``pusher_internal`` frame to every subscriber in the cluster: published once, not
        sequenced (it has no serial, and a history read must not return it); local sockets are
        written to directly."""
        arg = except_socket_id.encode() if except_socket_id else b""
        await self._routes.publish("c", app_id, channel, arg, payload)
        self._local.deliver(app_id, channel, payload, except_socket_id)

    async def _announce_presence(self, app_id: str, user_id: str, name: str) -> None:
        with contextlib.suppress(*FAILURES):
            await self._routes.publish("w", app_id, user_id, name.encode(), b"")
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
            try:
                await self._leave(conn, channel, member)
            except Exception:  # a bug in one channel must not leave the others behind too
                log.exception("leaving %s for socket %s failed", channel, conn.socket_id)
        if user_id is not None:
            await self._sign_out(app_id, user_id, conn.socket_id)
        for watched in self._local.unwatch(app_id, conn.socket_id):
            await self._routes.drop("w", app_id, watched)
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
    async def subscribe(self, conn: Subscriber, channel: str, member: Member | None) -> Joined:
        app, node = conn.app, self.node
        if self._local.holds(app.id, channel, conn.socket_id):  # a repeat changes nothing
            stats = await self._reads.channel(app.id, channel)
            members = await self._reads.members(app.id, channel) if member is not None else None
            return Joined(stats.subscription_count, members)
        local_count = self._local.join(app.id, channel, conn)
        if member is not None:
            self._local.add_member(app.id, channel, member)
        if local_count == 1:  # this node's first: where delivery here starts
            topic = self._routes.topic("c", app.id, channel)
            with contextlib.suppress(*FAILURES):  # else the first message sets where it starts
                await self._routes.streams.track(topic, app.id, channel)
        # Every socket waits for Redis to confirm the node listens (at once when it does),
        # so nothing published after its subscription_succeeded can miss it.
        await self._routes.want("c", app.id, channel)
        args: list[Any] = [node, 1, -1, self._claims]
        if member is not None:
            info = orjson.dumps(member.user_info)
            limit = app.max_presence_members_per_channel
            args = [node, 1, limit, self._claims, member.user_id, 1, info]
        try:
            await self._own_app(node, app.id)
            if local_count == 1:  # the reaper finds a dead node's channels here
                await self._redis.sadd(self._keys.node_channels(app.id, node), channel)
            result = await self._channel_script("join", app.id, channel, *args)
        except FAILURES as error:
            self._lost("a subscription", error)
            members = self._local.member_infos(app.id, channel) if member is not None else None
            return Joined(local_count, members)
        total, refused = int(result[0]), int(result[2])
        if refused:
            await self._forget_local(conn, channel, member)
            with contextlib.suppress(*FAILURES):  # the refusal is what the client must hear
                await self._release_channel(app.id, channel)
            raise presence_full(channel, app.max_presence_members_per_channel)
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
            self.bus.emit(
                HubEvent(HubEventKind.CHANNEL_OCCUPIED, app_id, channel, returned=bool(result[3]))
            )
        return list(result[5 + 2 * added :])

    async def _member_added(
        self,
        app_id: str,
        channel: str,
        user_id: str,
        except_socket_id: str | None,
        returned: bool,
    ) -> None:
        info = self._local.members(app_id, channel).get(user_id)
        payload = messages.member_added(channel, user_id, info.user_info if info else None)
        with contextlib.suppress(*FAILURES):
            await self._broadcast(app_id, channel, payload, except_socket_id)
        event = HubEvent(
            HubEventKind.MEMBER_ADDED, app_id, channel, user_id=user_id, returned=returned
        )
        self.bus.emit(event)

    async def _member_removed(self, app_id: str, channel: str, user_id: str) -> None:
        with contextlib.suppress(*FAILURES):
            await self._broadcast(app_id, channel, messages.member_removed(channel, user_id))
        self.bus.emit(HubEvent(HubEventKind.MEMBER_REMOVED, app_id, channel, user_id=user_id))

    async def _forget_local(self, conn: Subscriber, channel: str, member: Member | None) -> int:
        app_id = conn.app.id
        left = self._local.leave(app_id, channel, conn.socket_id)
        if left is None:
            return -1
        if member is not None:
            self._local.remove_member(app_id, channel, member.user_id)
        if left == 0:
            try:
                await self._routes.drop("c", app_id, channel)
            except Exception:  # not listening any more matters less than leaving in Redis
                log.exception("could not stop listening to %s", channel)
        return left

    async def _release_channel(self, app_id: str, channel: str) -> None:
        """Out of this node's channel set once no local socket holds the channel. Checked
        when the SREM is sent, not before the LEAVE: a socket that joined meanwhile has sent
        (or will send, after this) its own SADD."""
        if not self._local.subscribers(app_id, channel):
            await self._redis.srem(self._keys.node_channels(app_id, self.node), channel)

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
            result = await self._channel_script("leave", app_id, channel, node, user_id, marks)
        except FAILURES as error:
            self._lost("an unsubscription", error)
            return left
        try:  # apart: LEAVE decided, and what it decided must be announced
            await self._release_channel(app_id, channel)
        except FAILURES as error:
            self._lost("an unsubscription", error)
        total, vacated, removed = (int(value) for value in result)
        if removed:
            await self._member_removed(app_id, channel, user_id)
        if vacated:
            self.bus.emit(HubEvent(HubEventKind.CHANNEL_VACATED, app_id, channel))
        return total

    async def publish(
        self, app_id: str, channel: str, payload: bytes, except_socket_id: str | None = None
    ) -> None:
        """A client event: sequenced, delivered from the topic on every node."""
        fields = event_args(self._recovery, payload, except_socket_id, splice=False)
        await required(self._routes.event(app_id, channel, fields))

    async def announce_subscription_count(self, app_id: str, channel: str) -> int:
        # The message is the frame with the count spliced in by the script; a channel name
        # (charset -a-zA-Z0-9_=@,.;) needs no JSON escaping. The template ends in the count
        # digit, then '}"}'.
        prefix, suffix = messages.subscription_count(channel, 0).rsplit(b"0", 1)
        topic, command = self._routes.topic("c", app_id, channel), self._routes.command
        announce = self._channel_script(
            "announce_count", app_id, channel, topic, prefix, suffix, command
        )
        return int(await required(announce))

    async def publish_many(self, app_id: str, outgoing: list[Outgoing]) -> None:
        """Queue every event before awaiting any, so they share one pipeline round trip."""
        recovery, event = self._recovery, self._routes.event
        sent = [
            event(app_id, channel, event_args(recovery, payload, skip, splice=False), gated=True)
            for channel, payload, skip in outgoing
        ]
        await required(asyncio.gather(*sent))

    # -- history ------------------------------------------------------------------------------
    async def publish_history(
        self,
        app_id: str,
        channel: str,
        rule: HistoryRule,
        payload: bytes,
        except_socket_id: str | None = None,
    ) -> None:
        """Delivered from the topic on every node, this one too (redis/streams.py)."""
        fields = event_args(rule, payload, except_socket_id, splice=True)
        # Not gated, as before streams carried every channel: a client holds its serial and
        # asks for what it missed itself (docs/history.md).
        await required(self._routes.event(app_id, channel, fields))

    async def history(
        self,
        app_id: str,
        channel: str,
        rule: HistoryRule,
        after: int,
        limit: int,
        epoch: str | None = None,
    ) -> HistoryPage:
        streams = self._routes.streams
        page = await required(streams.read(app_id, channel, rule, after, limit, epoch))
        delivered = streams.delivered(self._keys.channel_topic(app_id, channel))
        if limit or delivered is None:
            return page
        # A subscription: Redis may hold serials this node has not delivered yet (they are on
        # their way); the socket, already joined here, gets them, so it starts from ours.
        ours, serial = delivered
        last = serial if ours == page.epoch.encode() else 0
        return HistoryPage(page.epoch, last, page.complete, [])

    # -- users --------------------------------------------------------------------------------
    async def send_to_user(self, app_id: str, user_id: str, payload: bytes) -> None:
        await required(self._routes.publish("u", app_id, user_id, b"", payload, True))
        self._local.send_to_user(app_id, user_id, payload)

    async def terminate_user(self, app_id: str, user_id: str) -> None:
        await required(self._routes.publish("u", app_id, user_id, TERMINATE, b"", True))
        self._local.terminate_user(app_id, user_id)

    async def sign_in(
        self, conn: Subscriber, user_id: str, watchlist: tuple[str, ...]
    ) -> dict[str, bool]:
        app_id, node = conn.app.id, self.node
        if self._local.sign_in(app_id, user_id, conn):
            await self._routes.want("u", app_id, user_id)
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
                await self._routes.want("w", app_id, watched)
        return {
            watched: bool(int(flag)) for watched, flag in zip(watchlist, result[1:], strict=True)
        }

    async def _sign_out(self, app_id: str, user_id: str, socket_id: str) -> None:
        if self._local.sign_out(app_id, user_id, socket_id):
            await self._routes.drop("u", app_id, user_id)
        try:
            offline = await self._script("sign_out", app_id, self.node, user_id)
        except FAILURES as error:
            self._lost("a sign-out", error)
            return
        if int(offline):
            await self._announce_presence(app_id, user_id, "offline")

    # -- reads --------------------------------------------------------------------------------
    async def channels(self, app_id: str) -> dict[str, ChannelStats]:
        return await self._reads.channels(app_id)

    async def channel(self, app_id: str, channel: str) -> ChannelStats:
        return await self._reads.channel(app_id, channel)

    async def members(self, app_id: str, channel: str) -> dict[str, Any]:
        return await self._reads.members(app_id, channel)

    async def cache_get(self, app_id: str, channel: str) -> tuple[bytes, float] | None:
        return await self._reads.cache_get(app_id, channel)

    async def cache_set(self, app_id: str, channel: str, payload: bytes, ttl: float) -> None:
        key = self._keys.cache(app_id, channel)
        await required(self._redis.set(key, payload, px=max(1, int(ttl * 1000))))

    async def confirm_departures(self, departures: Sequence[HubEvent]) -> list[bool]:
        if not self._departure_ms or not departures:
            return [True] * len(departures)

        async def claim(event: HubEvent) -> bool:
            mark = event.user_id or ""
            return bool(await self._channel_script("claim", event.app_id, event.channel, mark))

        async def claim_all() -> list[bool]:
            return list(await asyncio.gather(*(claim(event) for event in departures)))

        return await required(claim_all())

    # -- recovery (called by redis_nodes) -----------------------------------------------------
    def new_node_id(self) -> tuple[str, str]:
        """Switch to a fresh node id; returns (old, new). Later changes go to the new one."""
        old = self.node
        self._generation += 1
        self.node = f"{self._routes.origin}-{self._generation}"
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
            channels = self._local.channel_names(app_id)
            if channels:
                await self._redis.sadd(self._keys.node_channels(app_id, node), *channels)
            for channel in channels:
                await self._restore_channel(node, app_id, channel, announce)
            for user_id, sockets in self._local.signed_in_users(app_id).items():
                result = await self._script("sign_in", app_id, node, user_id, sockets)
                if announce and int(result[0]):
                    await self._announce_presence(app_id, user_id, "online")

    async def _restore_channel(self, node: str, app_id: str, channel: str, announce: bool) -> None:
        count = len(self._local.subscribers(app_id, channel))
        if not count:
            return
        args: list[Any] = [node, count, -1, self._claims]
        for user_id, entry in self._local.members(app_id, channel).items():
            args += [user_id, entry.sockets, orjson.dumps(entry.user_info)]
        result = await self._channel_script("join", app_id, channel, *args)
        if announce:
            await self._announce_join(app_id, channel, result, None)

    async def reap(self, node: str) -> None:
        """Remove everything ``node`` held, announcing who left; the caller holds its lock."""
        keys = self._keys
        for raw in await self._redis.smembers(keys.node_apps(node)):
            app_id = text(raw)
            for raw_channel in await self._redis.smembers(keys.node_channels(app_id, node)):
                channel = text(raw_channel)
                vacated, removed = await self._channel_script(
                    "reap_channel", app_id, channel, node, self._departure_ms
                )
                for user_id in removed:
                    await self._member_removed(app_id, channel, user_id.decode())
                if int(vacated):
                    self.bus.emit(HubEvent(HubEventKind.CHANNEL_VACATED, app_id, channel))
            for user_id in await self._script("reap_app", app_id, node):
                await self._announce_presence(app_id, user_id.decode(), "offline")
        await self._redis.delete(keys.node_apps(node), keys.node(node))
        await self._redis.srem(keys.nodes, node)
        self._registered_apps = {entry for entry in self._registered_apps if entry[0] != node}


Reaper = Callable[[str], Awaitable[None]]
