"""Which pub/sub topic carries what between nodes, and how a message from another node reaches
this node's sockets.

Three kinds of topic: a channel's events (``c``), a signed-in user's events and terminations
(``u``), a user's online/offline for watchers (``w``). Every message starts with the publishing
process's origin, so a node skips its own: it wrote to its local sockets directly.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from typing import Any, Literal

from redis.asyncio.cluster import RedisCluster

from tidings.hub.local import LocalSockets
from tidings.hub.redis.publisher import Publisher, Send
from tidings.hub.redis.shards import ShardedTopics
from tidings.hub.redis.state import Keys
from tidings.hub.redis.streams import SEQUENCED, ChannelStreams
from tidings.hub.redis.topics import Topics
from tidings.redis_client import Client

TERMINATE = b"terminate"
TopicKind = Literal["c", "u", "w"]


@dataclass(frozen=True, slots=True)
class _Route:
    kind: TopicKind
    app_id: str
    name: str


class Routes:
    def __init__(
        self,
        redis: Client,
        keys: Keys,
        local: LocalSockets,
        timeout: float,
        gate: Send | None = None,
    ) -> None:
        self.origin = secrets.token_hex(6)  # this process, in every message it publishes
        self._origin = self.origin.encode()
        self._keys = keys
        self._local = local
        self._routes: dict[bytes, _Route] = {}
        self.streams = ChannelStreams(redis, keys, local)
        self.topics: Topics | ShardedTopics
        if isinstance(redis, RedisCluster):  # sharded: a shard carries only its channels' events
            self.command = "SPUBLISH"
            self.topics = ShardedTopics(
                redis,
                self._on_message,
                timeout,
                on_reconnect=self.streams.reconnecting,
                on_confirmed=self.streams.confirmed,
            )
        else:
            self.command = "PUBLISH"
            self.topics = Topics(
                redis,
                keys.node_topic(self.origin),
                self._on_message,
                timeout,
                on_reconnect=self.streams.reconnecting,
                on_confirmed=self.streams.confirmed,
            )
        self._publisher = Publisher(redis, self.command, gate)

    def topic(self, kind: TopicKind, app_id: str, name: str) -> bytes:
        if kind == "c":
            return self._keys.channel_topic(app_id, name)
        if kind == "u":
            return self._keys.user_topic(app_id, name)
        return self._keys.watch_topic(app_id, name)

    async def want(self, kind: TopicKind, app_id: str, name: str) -> None:
        """Subscribe (once Redis confirms it) while a local socket needs it; routed from now
        on, and only while wanted: what still comes in after ``drop`` is dropped."""
        topic = self.topic(kind, app_id, name)
        if topic not in self._routes:
            self._routes[topic] = _Route(kind, app_id, name)
        await self.topics.want(topic)

    async def drop(self, kind: TopicKind, app_id: str, name: str) -> None:
        topic = self.topic(kind, app_id, name)
        self._routes.pop(topic, None)
        self.streams.untrack(topic)
        await self.topics.drop(topic)

    def publish(
        self,
        kind: TopicKind,
        app_id: str,
        name: str,
        arg: bytes,
        payload: bytes,
        gated: bool = False,
    ) -> asyncio.Future[None]:
        """A plain publish; ``gated``: what the HTTP API answers for (see Publisher)."""
        message = b"%s\n%s\n%s" % (self._origin, arg, payload)
        return self._publisher.publish(self.topic(kind, app_id, name), message, gated)

    def event(
        self, app_id: str, channel: str, fields: list[Any], gated: bool = False
    ) -> asyncio.Future[None]:
        """A channel event, sequenced (streams.py): every node delivers it from the topic."""
        keys, topic = self._keys.stream(app_id, channel), self.topic("c", app_id, channel)
        return self._publisher.sequence(keys, topic, fields, gated)

    def _on_message(self, topic: bytes, data: bytes) -> None:
        origin, arg, payload = data.split(b"\n", 2)
        route = self._routes.get(topic)
        if route is None or origin == self._origin:
            return  # our own PUBLISH: local sockets were written to directly
        local = self._local
        if route.kind == "c":
            if origin == SEQUENCED:  # serial order, gaps filled from the stream
                self.streams.received(topic, route.app_id, route.name, arg, payload)
                return
            except_socket_id = arg.decode() if arg else None
            local.deliver(route.app_id, route.name, payload, except_socket_id)
        elif route.kind == "u":
            if arg == TERMINATE:
                local.terminate_user(route.app_id, route.name)
            else:
                local.send_to_user(route.app_id, route.name, payload)
        else:
            local.notify_watchers(route.app_id, route.name, arg.decode())
