"""The node's one pub/sub connection: subscribed only to the topics it has local sockets for.

A topic is "wanted" from the first local socket that needs it to the last one leaving; ``want``
returns once Redis has confirmed the SUBSCRIBE, so an event published after a client's
subscription_succeeded cannot miss it. If the connection drops, a fresh one subscribes to every
wanted topic again; the channel events published meanwhile are read back from their streams
(streams.py), while ``pusher_internal`` frames and a user's events are lost (and said so in
the log), unless Sentinel's gated publish refused them (hub/redis/sentinel.py). On a Redis
Cluster, ``shards.ShardedTopics`` plays this part.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.asyncio.connection import Connection

from tidings.background import cancel_and_wait, spawn
from tidings.metrics.figures import redis_round_trip_errors
from tidings.redis_client import FAILURES

log = logging.getLogger("tidings.redis")

Handler = Callable[[bytes, bytes], None]


def _nothing(*args: object) -> None:
    pass


class Topics:
    def __init__(
        self,
        redis: Redis,
        home: bytes,
        on_message: Handler,
        timeout: float,
        *,
        on_reconnect: Callable[[], None] = _nothing,
        on_confirmed: Callable[[bytes], None] = _nothing,
    ) -> None:
        self._redis = redis
        # The channel streams (redis/streams.py) hold messages across a reconnect until the
        # stream has filled the gap: told when a connection is remade and a topic confirmed.
        self._on_reconnect = on_reconnect
        self._on_confirmed = on_confirmed
        self._home = home  # always subscribed, so the connection never sits unsubscribed
        self._on_message = on_message
        self._timeout = timeout
        self._wanted: dict[bytes, asyncio.Future[None]] = {}
        self._pubsub: PubSub | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False  # see Nodes.close: a cancel can be absorbed inside redis-py
        self._retry_now = asyncio.Event()  # cuts a reconnect back-off short
        self.connected = asyncio.Event()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def close(self) -> None:
        self._closing = True
        await cancel_and_wait(self._task)
        await self._drop_connection()

    def topics(self) -> list[bytes]:
        return list(self._wanted)

    async def want(self, topic: bytes) -> None:
        """Subscribe to ``topic`` (if not yet) and wait, boundedly, for Redis to confirm it."""
        ready = self._wanted.get(topic)
        if ready is None:
            ready = self._wanted[topic] = asyncio.get_running_loop().create_future()
            pubsub = self._pubsub
            if pubsub is not None:
                try:  # no wait_for: its task could reorder this after a later UNSUBSCRIBE
                    await pubsub.subscribe(topic)
                except FAILURES as error:
                    redis_round_trip_errors.note()
                    log.warning("SUBSCRIBE %s failed (%s); retried on reconnect", topic, error)
                    self.reconnect()
        if not ready.done():
            # Past the bound the socket is still served locally; the topic follows on reconnect.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(ready), self._timeout)

    async def drop(self, topic: bytes) -> None:
        ready = self._wanted.pop(topic, None)
        if ready is not None and not ready.done():
            ready.cancel()
        pubsub = self._pubsub
        if ready is not None and pubsub is not None:
            try:
                await pubsub.unsubscribe(topic)
            except FAILURES:
                redis_round_trip_errors.note()
                self.reconnect()  # a fresh connection subscribes only to what is wanted

    def reconnect(self) -> None:
        """Drop the connection; the loop makes a new one and resubscribes."""
        pubsub, self._pubsub = self._pubsub, None
        self.connected.clear()
        if pubsub is not None and pubsub.connection is not None:
            # Only the socket: the loop may be reading it, and hands it back to the pool
            # itself once it stopped (released now, another call could read it meanwhile).
            spawn(self._disconnect_quietly(pubsub.connection))

    def follow(self, address: tuple[str, int]) -> None:
        """The master moved to ``address`` (Sentinel): resubscribe there now, unless the
        connection already is there."""
        pubsub = self._pubsub
        connection = pubsub.connection if pubsub is not None else None
        if connection is not None and (connection.host, connection.port) == address:
            return
        self.reconnect()
        self._retry_now.set()

    async def _drop_connection(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            await self._close_quietly(pubsub)

    @staticmethod
    async def _disconnect_quietly(connection: Connection) -> None:
        with contextlib.suppress(Exception):
            await connection.disconnect()

    async def _close_quietly(self, pubsub: PubSub) -> None:
        connection = pubsub.connection
        if connection is not None:  # it goes back to the pool: no more of our callbacks
            connection.deregister_connect_callback(self._connection_remade)
        with contextlib.suppress(Exception):
            await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def _run(self) -> None:
        delay = 0.1
        first = True
        while not self._closing:
            if not first:
                self._on_reconnect()
            first = False
            pubsub = self._redis.pubsub()
            try:
                for topic, ready in list(self._wanted.items()):
                    if ready.done():  # confirmed before the drop: confirm again
                        self._wanted[topic] = asyncio.get_running_loop().create_future()
                # One SUBSCRIBE, home last: once the home topic is heard here, so is every
                # wanted one (Sentinel's gated publish checks only the home topic).
                topics = [*self._wanted, self._home]
                await asyncio.wait_for(pubsub.subscribe(*topics), self._timeout)
                if pubsub.connection is not None:
                    pubsub.connection.register_connect_callback(self._connection_remade)
                self._pubsub = pubsub
                self.connected.set()
                delay = 0.1
                await self._reconcile(pubsub, set(topics))
                await self._listen(pubsub)
            except asyncio.CancelledError:
                await self._close_quietly(pubsub)
                raise
            except Exception as error:  # any failure means: reconnect
                redis_round_trip_errors.note()
                if self.connected.is_set() or delay == 0.1:
                    log.warning("Redis pub/sub connection lost (%s); reconnecting", error)
            if self._pubsub is pubsub:
                self._pubsub = None
            self.connected.clear()
            await self._close_quietly(pubsub)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._retry_now.wait(), delay)
            self._retry_now.clear()
            delay = min(delay * 2, 2.0)

    async def _reconcile(self, pubsub: PubSub, sent: set[bytes]) -> None:
        """Wants and drops made while ``sent`` was being subscribed found no connection to
        tell: subscribe the topics wanted since, unsubscribe the ones dropped since."""
        # Each list is made right before its command: while one is sent, want() and drop()
        # find the connection and tell it themselves.
        late = [topic for topic in self._wanted if topic not in sent]
        if late:
            await pubsub.subscribe(*late)
        dropped = [topic for topic in sent if topic not in self._wanted and topic != self._home]
        if dropped:
            await pubsub.unsubscribe(*dropped)

    def _connection_remade(self, connection: object) -> None:
        """redis-py reconnected the pub/sub connection by itself (one retry on a broken
        socket) and resubscribed: messages may have been missed in between, as on our own
        reconnects. Called after redis-py's own callback has sent the SUBSCRIBEs."""
        log.warning("Redis pub/sub connection was remade; reading back what it missed")
        self._on_reconnect()

    async def _listen(self, pubsub: PubSub) -> None:
        while self._pubsub is pubsub and not self._closing:
            message: dict[str, Any] | None = await pubsub.get_message(timeout=1.0)
            if message is None:
                continue
            kind, topic = message["type"], message["channel"]
            if kind == "message":
                try:
                    self._on_message(topic, message["data"])
                except Exception:  # one bad message must not stop delivery of the others
                    log.exception("failed to deliver a message from %s", topic)
            elif kind == "subscribe":
                ready = self._wanted.get(topic)
                if ready is not None and not ready.done():
                    ready.set_result(None)
                self._on_confirmed(topic)
