"""Sharded pub/sub on a Redis Cluster: one subscription connection per master that owns the
slot of a topic this node wants.

A channel's topic is a shard channel (SSUBSCRIBE) in the channel's own slot (state.py), so a
shard carries only its channels' events. redis-py's ClusterPubSub reads its per-node
connections in turn, each with a timeout; tidings holds them itself instead, one reader task per
shard connection (never per channel or socket), so a message is handed on as soon as it comes.

A slot that moves (CLUSTER SETSLOT ... NODE, a failover) makes Redis send an SUNSUBSCRIBE for
each of its shard channels; a shard connection that drops leaves its topics without a home too.
Either way the node refreshes the slot map, subscribes each such topic on its owner now, and
the channel's stream fills what was published meanwhile (streams.py): the topics are held from
the moment they were lost until confirmed again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.client import PubSub
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from tidings.background import cancel_and_wait, spawn
from tidings.metrics.figures import redis_round_trip_errors
from tidings.redis_client import FAILURES

log = logging.getLogger("tidings.redis")

Handler = Callable[[bytes, bytes], None]
MAX_BACKOFF = 0.5  # seconds between tries to place lost topics
HEALTH_CHECK = 5.0  # seconds of quiet after which a shard connection is PINGed
Lost = Callable[[list[bytes] | None], None]


class _Shard:
    """The subscription connection to one master, for the topics whose slots it owns."""

    def __init__(self, owner: ShardedTopics, node: ClusterNode) -> None:
        self.name = node.name
        self._owner = owner
        # No retry inside redis-py: its reconnect would resubscribe every slot in one command.
        kwargs = {**node.connection_kwargs, "retry": Retry(NoBackoff(), 0)}
        pool = ConnectionPool(connection_class=node.connection_class, **kwargs)
        self._client = Redis(connection_pool=pool)
        self.topics: set[bytes] = set()
        self._unsubscribing: dict[bytes, int] = {}  # our own SUNSUBSCRIBEs not answered yet
        self.pubsub: PubSub | None = None
        self._task: asyncio.Task[None] | None = None
        self.closing = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def close(self) -> None:
        self.closing = True
        await cancel_and_wait(self._task)
        await self._drop()
        with contextlib.suppress(*FAILURES):
            await self._client.aclose(close_connection_pool=True)

    async def subscribe(self, topics: Iterable[bytes]) -> None:
        """SSUBSCRIBE, one slot at a time (Redis refuses one command across slots)."""
        pubsub = self.pubsub
        if pubsub is None:
            return  # the reader subscribes to every topic of the shard when it connects
        for group in self._owner.by_slot(topics).values():
            await pubsub.ssubscribe(*group)

    async def unsubscribe(self, topic: bytes) -> None:
        pubsub = self.pubsub
        if pubsub is not None:
            await self.unsubscribe_on(pubsub, topic)

    async def unsubscribe_on(self, pubsub: PubSub, topic: bytes) -> None:
        self._unsubscribing[topic] = self._unsubscribing.get(topic, 0) + 1
        await pubsub.sunsubscribe(topic)

    async def _drop(self) -> None:
        pubsub, self.pubsub = self.pubsub, None
        if pubsub is not None:
            with contextlib.suppress(Exception):
                await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def _run(self) -> None:
        """Subscribe and read until the connection ends; then hand the topics back to be
        placed again (a dropped connection may mean a failover: the slot map says)."""
        pubsub = self._client.pubsub()
        try:
            sent: set[bytes] = set()
            while missing := self.topics - sent:  # topics placed here while connecting too
                for group in self._owner.by_slot(missing).values():
                    await asyncio.wait_for(pubsub.ssubscribe(*group), self._owner.timeout)
                sent |= missing
            for gone in sent - self.topics:  # dropped while connecting
                await self.unsubscribe_on(pubsub, gone)
            self.pubsub = pubsub
            await self._listen(pubsub)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # any failure means: find the owners again
            redis_round_trip_errors.note()
            log.warning("Redis shard %s pub/sub lost (%s); resubscribing", self.name, error)
        finally:
            self.pubsub = None
            with contextlib.suppress(Exception):
                await pubsub.aclose()  # type: ignore[no-untyped-call]
        if not self.closing:
            self._owner.lost(self, list(self.topics))

    async def _listen(self, pubsub: PubSub) -> None:
        owner = self._owner
        loop = asyncio.get_running_loop()
        heard, pinged = loop.time(), 0.0
        while self.pubsub is pubsub and not self.closing:
            message: dict[str, Any] | None = await pubsub.get_message(timeout=1.0)
            now = loop.time()
            if message is None:
                # Quiet: a master that vanished without closing the socket (a host gone, a
                # partition) must not leave its topics silent forever, so ask it.
                if pinged and now - pinged > owner.timeout:
                    raise ConnectionError(f"no answer to PING within {owner.timeout} s")
                if not pinged and now - heard > HEALTH_CHECK:
                    pinged = now
                    await pubsub.ping()
                continue
            heard, pinged = now, 0.0
            kind, topic = message["type"], message["channel"]
            if kind == "smessage":
                owner.deliver(topic, message["data"])
            elif kind == "ssubscribe":
                owner.confirmed(topic)
            elif kind == "sunsubscribe":
                pending = self._unsubscribing.get(topic, 0)
                if pending:  # the answer to our own SUNSUBSCRIBE
                    if pending == 1:
                        del self._unsubscribing[topic]
                    else:
                        self._unsubscribing[topic] = pending - 1
                elif topic in self.topics:
                    # Not ours: the slot moved away. Find its owner, and hold it meanwhile.
                    self.topics.discard(topic)
                    owner.moved(topic)


class ShardedTopics:
    """What ``Topics`` is to one Redis, for a Redis Cluster's sharded pub/sub."""

    def __init__(
        self,
        cluster: RedisCluster,
        on_message: Handler,
        timeout: float,
        *,
        on_reconnect: Lost,
        on_confirmed: Callable[[bytes], None],
    ) -> None:
        self._cluster = cluster
        self._on_message = on_message
        self._on_reconnect = on_reconnect
        self._on_confirmed = on_confirmed
        self.timeout = timeout
        self._wanted: dict[bytes, asyncio.Future[None]] = {}
        self._shards: dict[str, _Shard] = {}
        self._home: dict[bytes, str] = {}  # topic -> the shard it is subscribed on
        self._homeless: set[bytes] = set()
        self._rehoming: asyncio.Task[None] | None = None
        self._backoff = 0.0  # grows while shard connections keep failing
        self.closing = False
        self.connected = asyncio.Event()

    def start(self) -> None:
        self._rehoming = asyncio.create_task(self._first_map())

    async def _first_map(self) -> None:
        delay = 0.1
        while not self.closing:
            try:
                await self._cluster.initialize()
            except FAILURES as error:
                redis_round_trip_errors.note()
                log.warning("Redis Cluster slot map unavailable (%s); retrying", error)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
                continue
            self.connected.set()
            await self.rehome()  # what was wanted before the map was known
            return

    async def close(self) -> None:
        self.closing = True
        await cancel_and_wait(self._rehoming)
        for shard in list(self._shards.values()):
            await shard.close()
        self._shards.clear()

    def topics(self) -> list[bytes]:
        return list(self._wanted)

    def by_slot(self, topics: Iterable[bytes]) -> dict[int, list[bytes]]:
        groups: dict[int, list[bytes]] = defaultdict(list)
        for topic in topics:
            groups[self._cluster.keyslot(topic)].append(topic)
        return groups

    async def want(self, topic: bytes) -> None:
        """Subscribe to ``topic`` (if not yet) and wait, boundedly, for Redis to confirm it."""
        ready = self._wanted.get(topic)
        if ready is None:
            ready = self._wanted[topic] = asyncio.get_running_loop().create_future()
            await self._place(topic)
        if not ready.done():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(ready), self.timeout)

    async def _place(self, topic: bytes) -> None:
        try:
            node = self._cluster.get_node_from_key(topic)  # type: ignore[arg-type]  # bytes hash too
        except FAILURES:
            node = None
        if node is None:
            self._homeless.add(topic)
            self._schedule_rehome()
            return
        shard = self._shards.get(node.name)
        if shard is None:
            shard = self._shards[node.name] = _Shard(self, node)
            shard.topics.add(topic)
            self._home[topic] = node.name
            shard.start()
            return
        shard.topics.add(topic)
        self._home[topic] = node.name
        try:
            await shard.subscribe([topic])
        except FAILURES as error:
            redis_round_trip_errors.note()
            log.warning("SSUBSCRIBE %s failed (%s); retried on reconnect", topic, error)

    async def drop(self, topic: bytes) -> None:
        ready = self._wanted.pop(topic, None)
        if ready is not None and not ready.done():
            ready.cancel()
        self._homeless.discard(topic)
        shard = self._shards.get(self._home.pop(topic, ""))
        if shard is None:
            return
        shard.topics.discard(topic)
        # redis-py fails in its own ways on a connection closed meanwhile (AttributeError on a
        # writer gone): the topic is not wanted any more, and a leave must go on regardless.
        with contextlib.suppress(Exception):
            await shard.unsubscribe(topic)
        if not shard.topics and self._shards.get(shard.name) is shard:  # not done meanwhile
            del self._shards[shard.name]
            self._closing_shard(shard)

    @staticmethod
    def _closing_shard(shard: _Shard) -> None:
        shard.closing = True  # its reader ends without handing anything back
        spawn(shard.close())

    def reconnect(self) -> None:
        """Drop every shard connection; each reader finds its owners and resubscribes."""
        for shard in self._shards.values():
            pubsub, shard.pubsub = shard.pubsub, None
            if pubsub is not None and pubsub.connection is not None:
                spawn(pubsub.connection.disconnect())

    # -- called by the shards ---------------------------------------------------------------
    def deliver(self, topic: bytes, data: bytes) -> None:
        try:
            self._on_message(topic, data)
        except Exception:  # one bad message must not stop delivery of the others
            log.exception("failed to deliver a message from %s", topic)

    def confirmed(self, topic: bytes) -> None:
        self._backoff = 0.0
        ready = self._wanted.get(topic)
        if ready is not None and not ready.done():
            ready.set_result(None)
        self._on_confirmed(topic)

    def lost(self, shard: _Shard, topics: list[bytes]) -> None:
        """A shard connection dropped: its topics wait for the slot map to say where now."""
        self._on_reconnect(topics)
        for topic in topics:
            if topic in self._wanted:
                self._renew(topic)
        shard.topics.clear()
        if self._shards.get(shard.name) is shard:
            del self._shards[shard.name]
        self._closing_shard(shard)
        self._homeless.update(t for t in topics if t in self._wanted)
        # Capped low: while a shard fails over the slot map names the dead master until its
        # replica is promoted (a second or two), and each try costs only a map read and a
        # refused connect; a long back-off would hold delivery back well past the promotion.
        self._backoff = min(max(0.1, self._backoff * 2), MAX_BACKOFF)
        self._schedule_rehome()

    def moved(self, topic: bytes) -> None:
        if topic not in self._wanted:
            return
        self._on_reconnect([topic])
        self._renew(topic)
        self._home.pop(topic, None)
        self._homeless.add(topic)
        self._schedule_rehome()

    def _renew(self, topic: bytes) -> None:
        ready = self._wanted[topic]
        if ready.done():  # confirmed before: confirm again
            self._wanted[topic] = asyncio.get_running_loop().create_future()

    def _schedule_rehome(self) -> None:
        if self._rehoming is None or self._rehoming.done():
            self._rehoming = asyncio.create_task(self.rehome())

    async def rehome(self) -> None:
        """Refresh the slot map, then subscribe every homeless topic on its owner."""
        delay = 0.1
        while self._homeless and not self.closing:
            if self._backoff:
                await asyncio.sleep(self._backoff)
            try:
                await self._cluster.nodes_manager.initialize()
                self.connected.set()
            except FAILURES as error:
                redis_round_trip_errors.note()
                self.connected.clear()
                log.warning("Redis Cluster slot map unavailable (%s); retrying", error)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
                continue
            homeless, self._homeless = self._homeless, set()
            for topic in homeless:
                if topic in self._wanted:
                    await self._place(topic)
            if self._homeless:  # a slot nobody serves yet (mid-failover): not a busy loop
                await asyncio.sleep(MAX_BACKOFF)
